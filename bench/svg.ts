/** What the bench's hand-written SVG charts (p3Chart.ts, p4Chart.ts) share. */
export const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The opening of a chart: the `<svg>` element, its title, a white background and the heading line. */
export function svgStart(
  size: { widthPx: number; heightPx: number },
  title: string,
  heading: string,
): string[] {
  const { widthPx, heightPx } = size;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${widthPx}" height="${heightPx}" viewBox="0 0 ${widthPx} ${heightPx}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(heading)}</text>`,
  ];
}
