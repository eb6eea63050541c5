// `--plot` files: SVG written as is, PNG rasterised by librsvg (read back with cairo to check
// what was drawn), anything else refused before an evaluation runs.
#include <cairo.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "output/svg_plot.h"

namespace triage::output {
namespace {

namespace fs = std::filesystem;

const std::string kSvg =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\">"
    "<rect width=\"100\" height=\"50\" fill=\"white\"/>"
    "<rect x=\"10\" y=\"10\" width=\"20\" height=\"20\" fill=\"#ff0000\"/></svg>";

// A per-process folder, removed when the test binary exits.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("triage-plot-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path temp_file(const std::string& name) {
  static TempDir dir;
  return dir.path / name;
}

// The pixel at (x, y) of an ARGB32 image as 0xRRGGBB.
uint32_t rgb_at(cairo_surface_t* s, int x, int y) {
  const unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  uint32_t px;
  std::memcpy(&px, data + y * stride + x * 4, 4);
  return px & 0xFFFFFFu;
}

TEST(PlotFile, FormatComesFromTheExtension) {
  EXPECT_EQ(plot_format("out.svg"), PlotFormat::kSvg);
  EXPECT_EQ(plot_format("dir/OUT.PNG"), PlotFormat::kPng);
  try {
    plot_format("out.jpg");
    FAIL() << "accepted .jpg";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--plot takes a path ending in .svg or .png, got 'out.jpg'");
  }
  EXPECT_THROW(plot_format("svg"), std::runtime_error);
}

TEST(PlotFile, SvgIsWrittenAsIs) {
  const fs::path p = temp_file("a.svg");
  write_plot(p.string(), kSvg);
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), kSvg);
}

TEST(PlotFile, PngIsTheSvgRasterisedAtTheScale) {
  const fs::path p = temp_file("a.png");
  write_plot(p.string(), kSvg, 2.0);
  cairo_surface_t* img = cairo_image_surface_create_from_png(p.c_str());
  ASSERT_EQ(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(img), 200);
  EXPECT_EQ(cairo_image_surface_get_height(img), 100);
  cairo_surface_flush(img);
  EXPECT_EQ(rgb_at(img, 40, 40), 0xFF0000u);   // inside the red square (20..60 at scale 2)
  EXPECT_EQ(rgb_at(img, 150, 80), 0xFFFFFFu);  // background
  cairo_surface_destroy(img);
}

TEST(PlotFile, ErrorsNameThePathAndTheReason) {
  try {
    write_plot(temp_file("b.png").string(), "this is not svg");
    FAIL() << "rendered garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.png: the SVG does not parse"), std::string::npos)
        << e.what();
  }
  const std::string missing_dir = (temp_file("x") / "no" / "such" / "c.png").string();
  try {
    write_plot(missing_dir, kSvg);
    FAIL() << "wrote into a missing directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write the plot " + missing_dir),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace triage::output
