#pragma once
// SVG building blocks shared by the offline commands' plots (`triage eval --plot`, `triage
// analyze --html`). Pure string functions; coordinates in SVG user units (pixels).
#include <string>
#include <string_view>

namespace triage::output {

// `in` with <, >, & and " replaced by their XML entities (text and attribute values).
std::string xml_escape(std::string_view in);

// The opening <svg> element (sans-serif text of `font_size`) and a white background, each on
// its own line.
std::string svg_open(double width, double height, int font_size);

// The x axis (from `left` to `right` at `bottom`) and the y axis (from `top` to `bottom` at
// `left`), black, one line each.
std::string svg_axes(double left, double bottom, double right, double top);

// The plot formats `--plot` writes, by the path's extension (case-insensitive).
enum class PlotFormat { kSvg, kPng };
// Throws std::runtime_error naming the accepted extensions for anything else, so a bad path is
// refused before a long evaluation runs.
PlotFormat plot_format(std::string_view path);

// Writes `svg` to `path`: as is for .svg, rasterised at `scale` (librsvg + cairo, white
// background kept) for .png. Throws std::runtime_error with the path and the reason on failure.
void write_plot(const std::string& path, std::string_view svg, double scale = 2.0);

}  // namespace triage::output
