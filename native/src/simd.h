// One set of names for float vectors of 8 lanes (AVX2, __m256) and 16 (AVX-512, __m512), so that
// arithmetic written once (Winograd's transforms, own_winograd_6pt.h) runs at either width: the
// overload is picked by the vector type, set1 and load by a template argument.
#pragma once

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <cstdint>

namespace convkit::simd {

inline __m256 add(__m256 a, __m256 b) {
  return _mm256_add_ps(a, b);
}
inline __m256 sub(__m256 a, __m256 b) {
  return _mm256_sub_ps(a, b);
}
inline __m256 mul(__m256 a, __m256 b) {
  return _mm256_mul_ps(a, b);
}
inline __m256 fmadd(__m256 a, __m256 b, __m256 c) {  // a b + c
  return _mm256_fmadd_ps(a, b, c);
}
inline __m256 fnmadd(__m256 a, __m256 b, __m256 c) {  // c - a b
  return _mm256_fnmadd_ps(a, b, c);
}
inline void store(float* p, __m256 v) {
  _mm256_storeu_ps(p, v);
}

#ifdef __AVX512F__
inline __m512 add(__m512 a, __m512 b) {
  return _mm512_add_ps(a, b);
}
inline __m512 sub(__m512 a, __m512 b) {
  return _mm512_sub_ps(a, b);
}
inline __m512 mul(__m512 a, __m512 b) {
  return _mm512_mul_ps(a, b);
}
inline __m512 fmadd(__m512 a, __m512 b, __m512 c) {
  return _mm512_fmadd_ps(a, b, c);
}
inline __m512 fnmadd(__m512 a, __m512 b, __m512 c) {
  return _mm512_fnmadd_ps(a, b, c);
}
inline void store(float* p, __m512 v) {
  _mm512_storeu_ps(p, v);
}
#endif

template <class T>
T set1(float v);
template <class T>
T load(const float* p);
template <class T>
T zero();
template <>
inline __m256 set1<__m256>(float v) {
  return _mm256_set1_ps(v);
}
template <>
inline __m256 load<__m256>(const float* p) {
  return _mm256_loadu_ps(p);
}
template <>
inline __m256 zero<__m256>() {
  return _mm256_setzero_ps();
}
#ifdef __AVX512F__
template <>
inline __m512 set1<__m512>(float v) {
  return _mm512_set1_ps(v);
}
template <>
inline __m512 load<__m512>(const float* p) {
  return _mm512_loadu_ps(p);
}
template <>
inline __m512 zero<__m512>() {
  return _mm512_setzero_ps();
}
// The mask of a 16-lane vector's first `n` lanes (all 16 from n = 16 on): a last block's channels.
inline __mmask16 firstLanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}
#endif

// The lanes of a vector type: 8 or 16.
template <class T>
constexpr int lanes = sizeof(T) / sizeof(float);

}  // namespace convkit::simd
#endif
