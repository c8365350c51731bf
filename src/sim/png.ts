/**
 * svgToPng rasterises an SVG document (such as `renderSvg`'s chart) to PNG at its own width and
 * height, with @resvg/resvg-js. The native module is loaded on the first call, not on import, so
 * the CLI and the library only pay for it when a PNG is asked for.
 *
 * Text uses the system's fonts: `sans-serif` and the default family are DejaVu Sans; where that is
 * not installed resvg falls back to the first system font, and with no system font at all the
 * lines and colours still render but the text is left out.
 */

/** PNG_FONT_FAMILY is the family the chart's `sans-serif` text asks the system for. */
export const PNG_FONT_FAMILY = 'DejaVu Sans';

/** svgToPng returns the PNG bytes of `svg`, rendered at its own size. */
export async function svgToPng(svg: string): Promise<Buffer> {
  let resvg: typeof import('@resvg/resvg-js');
  try {
    resvg = await import('@resvg/resvg-js');
  } catch (err) {
    throw new Error(
      `cannot load @resvg/resvg-js to draw a PNG (${(err as Error).message}); write an .svg plot instead`,
      { cause: err },
    );
  }
  const image = await resvg.renderAsync(svg, {
    fitTo: { mode: 'original' },
    font: {
      loadSystemFonts: true,
      defaultFontFamily: PNG_FONT_FAMILY,
      sansSerifFamily: PNG_FONT_FAMILY,
    },
  });
  return image.asPng();
}
