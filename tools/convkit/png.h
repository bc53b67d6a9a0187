// A tiny paletted bitmap with rectangles and 5x7 text, written as PNG. Enough for the
// `convkit bench --plot` chart without a plotting or compression library: the PNG holds
// uncompressed ("stored") deflate blocks, which every PNG reader accepts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convkit::tool {

struct Rgb {
  uint8_t r, g, b;
};

/// An 8-bit indexed image; colour 0 of the palette is the background.
class Bitmap {
 public:
  Bitmap(int width, int height, std::vector<Rgb> palette);
  int width() const { return width_; }
  int height() const { return height_; }

  /// Fills [x0, x1) x [y0, y1), clipped to the image.
  void fill(int x0, int y0, int x1, int y1, uint8_t colour);
  /// Draws `text` with its top-left corner at (x, y); each glyph pixel becomes a
  /// scale x scale square. Letters are drawn as capitals (the font has one case, plus 'x').
  void text(int x, int y, const std::string& s, uint8_t colour, int scale = 1);
  /// Width in pixels of `text` at `scale`.
  static int text_width(const std::string& s, int scale = 1);
  static constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

  /// Writes the image as PNG. Throws convkit::FileError if the file cannot be written.
  void write_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<Rgb> palette_;
  std::vector<uint8_t> pixels_;
};

}  // namespace convkit::tool
