/**
 * A report's markdown as the Reports view renders it: the elements markdown makes, no markup of
 * the text's own, no script links, and the report's own files pointed at the files API.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportHtml } from '../../web/src/report-markdown.js';

const file = (name: string): string => `api/reports/r/files/${encodeURIComponent(name)}`;

describe('reportHtml', () => {
  it('renders headings, tables, emphasis and code as elements', () => {
    const html = reportHtml('# Title\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n**bold** `x = 1`\n\n```\nline\n```\n', file);
    assert.match(html, /<h1>Title<\/h1>/);
    assert.match(html, /<table>\n<thead>\n<tr>\n<th>a<\/th>\n<th style="text-align:right">b<\/th>/);
    assert.match(html, /<td>1<\/td>/);
    assert.match(html, /<strong>bold<\/strong> <code>x = 1<\/code>/);
    assert.match(html, /<pre><code>line\n<\/code><\/pre>/);
  });

  it('shows raw HTML as text and refuses script links', () => {
    const html = reportHtml(
      '<script>alert(1)</script>\n\n<img src=x onerror=alert(1)> [go](javascript:alert(1))',
      file,
    );
    assert.doesNotMatch(html, /<script|<img|href="javascript/i);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  it("points the report's relative links and images at its files, and leaves URLs and anchors", () => {
    const html = reportHtml(
      '![one bar](bar%20chart.svg) [data](data.json) [site](https://example.org/x) [up](#top)',
      file,
    );
    assert.match(html, /<img src="api\/reports\/r\/files\/bar%20chart\.svg" alt="one bar">/);
    assert.match(html, /<a href="api\/reports\/r\/files\/data\.json">data<\/a>/);
    assert.match(html, /<a href="https:\/\/example\.org\/x">site<\/a>/);
    assert.match(html, /<a href="#top">up<\/a>/);
  });
});
