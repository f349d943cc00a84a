/**
 * A report's markdown as HTML for the Reports view: markdown-it with raw HTML off (every tag the
 * text holds is shown as text) and its own link check (no javascript:, vbscript:, file: or
 * non-image data: URLs); links and images relative to the report (its charts, data.json) point at
 * the report's files API, which sends them with a CSP that runs nothing.
 */
import markdownIt, { type Token } from 'markdown-it';

const markdown = markdownIt({ html: false, linkify: false, typographer: false });

/** A link or image target relative to the report (`bar.svg`), not a URL, an anchor or an absolute path. */
const isReportFile = (url: string): boolean => url !== '' && !/^([a-z][a-z0-9+.-]*:|#|\/)/i.test(url);

/** report.md as HTML, its relative links and images pointed at the report's files API (`file`). */
export function reportHtml(text: string, file: (name: string) => string): string {
  const tokens = markdown.parse(text, {});
  const visit = (list: Token[]): void => {
    for (const t of list) {
      const attr = t.type === 'image' ? 'src' : t.type === 'link_open' ? 'href' : null;
      const url = attr === null ? null : t.attrGet(attr);
      if (attr !== null && typeof url === 'string' && isReportFile(url)) t.attrSet(attr, file(decodeURIComponent(url)));
      if (t.children) visit(t.children);
    }
  };
  visit(tokens);
  return markdown.renderer.render(tokens, markdown.options, {});
}
