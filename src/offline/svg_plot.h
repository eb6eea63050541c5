#pragma once
// SVG building blocks shared by the offline commands' plots (`triage eval --plot`, `triage
// analyze --html`). Pure string functions; coordinates in SVG user units (pixels).
#include <string>
#include <string_view>

namespace triage::offline {

// `in` with <, >, & and " replaced by their XML entities (text and attribute values).
std::string xml_escape(std::string_view in);

// The opening <svg> element (sans-serif text of `font_size`) and a white background, each on
// its own line.
std::string svg_open(double width, double height, int font_size);

// The x axis (from `left` to `right` at `bottom`) and the y axis (from `top` to `bottom` at
// `left`), black, one line each.
std::string svg_axes(double left, double bottom, double right, double top);

}  // namespace triage::offline
