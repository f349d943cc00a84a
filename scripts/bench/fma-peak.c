/*
 * Peak float32 fused multiply-add throughput of this machine with N threads, in GFLOP/s (an FMA
 * counts 2 FLOPs). Each thread keeps 12 independent accumulator chains in vector registers (enough
 * to cover FMA latency x FMA ports on current x86 cores: 4 cycles x 2 ports = 8) and updates them
 * with acc = acc * m + c, which stays finite and never denormal. Prints one number: the best of
 * several timed rounds. Built by scripts/bench/fma-peak.ts with `cc -O3 -march=native -fopenmp`.
 *
 * Usage: fma-peak [threads]   (default: all cores OpenMP sees)
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#else
#error "needs AVX2+FMA or AVX-512 (build with -march=native on such a CPU)"
#endif

#define CHAINS 12

/* Runs `iters` rounds of CHAINS independent FMAs; returns a value so the work is not removed. */
static float run_chains(long iters, float seed) {
  vec m = SET1(0.9999999f), c = SET1(1e-7f);
  vec a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3);
  vec a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7);
  vec a8 = SET1(seed + 8), a9 = SET1(seed + 9), a10 = SET1(seed + 10), a11 = SET1(seed + 11);
  for (long i = 0; i < iters; i++) {
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
    a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
    a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
    /* Keeps the compiler from folding the chains across iterations. */
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
    __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
  s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
  float out[LANES];
  STORE(out, s);
  return out[0];
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : omp_get_max_threads();
  if (threads < 1) threads = 1;
  omp_set_num_threads(threads);
  const long iters = 50 * 1000 * 1000; /* about 0.1-0.3 s per round on a 2-5 GHz core */
  double best = 0;
  volatile float sink = 0;
  for (int round = 0; round < 5; round++) {
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
    sink += run_chains(iters, (float)omp_get_thread_num());
    double secs = omp_get_wtime() - t0;
    double gflops = (double)threads * iters * CHAINS * LANES * 2 / secs / 1e9;
    if (gflops > best) best = gflops;
  }
  printf("%.1f\n", best);
  return sink == 12345.0f ? 1 : 0;
}
