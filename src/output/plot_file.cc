// Writing `--plot` files: SVG as is, PNG through librsvg (which renders with cairo). Offline
// commands only; nothing on the serving path links to this code's callers.
#include <cairo.h>
#include <librsvg/rsvg.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "output/svg_plot.h"

namespace triage::output {

namespace {

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<long>(suffix.size()),
                    [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    });
}

struct GObjectUnref {
  void operator()(RsvgHandle* h) const { g_object_unref(h); }
};
struct SurfaceDestroy {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct CairoDestroy {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};

// Takes ownership of a GError and returns its message.
std::string take_message(GError* error) {
  std::string msg = error && error->message ? error->message : "unknown error";
  if (error) g_error_free(error);
  return msg;
}

void write_png(const std::string& path, std::string_view svg, double scale) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("cannot write the plot " + path + ": " + why);
  };
  GError* error = nullptr;
  std::unique_ptr<RsvgHandle, GObjectUnref> handle(rsvg_handle_new_from_data(
      reinterpret_cast<const guint8*>(svg.data()), svg.size(), &error));
  if (!handle) fail("the SVG does not parse: " + take_message(error));
  double w = 0, h = 0;
  if (!rsvg_handle_get_intrinsic_size_in_pixels(handle.get(), &w, &h) || w <= 0 || h <= 0) {
    fail("the SVG has no width and height");
  }
  const int pw = static_cast<int>(std::ceil(w * scale));
  const int ph = static_cast<int>(std::ceil(h * scale));
  std::unique_ptr<cairo_surface_t, SurfaceDestroy> surface(
      cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pw, ph));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    fail(cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  {
    std::unique_ptr<cairo_t, CairoDestroy> cr(cairo_create(surface.get()));
    const RsvgRectangle viewport{0, 0, static_cast<double>(pw), static_cast<double>(ph)};
    if (!rsvg_handle_render_document(handle.get(), cr.get(), &viewport, &error)) {
      fail("rendering failed: " + take_message(error));
    }
  }
  const cairo_status_t st = cairo_surface_write_to_png(surface.get(), path.c_str());
  if (st != CAIRO_STATUS_SUCCESS) fail(cairo_status_to_string(st));
}

}  // namespace

PlotFormat plot_format(std::string_view path) {
  if (ends_with_ci(path, ".svg")) return PlotFormat::kSvg;
  if (ends_with_ci(path, ".png")) return PlotFormat::kPng;
  throw std::runtime_error("--plot takes a path ending in .svg or .png, got '" +
                           std::string(path) + "'");
}

void write_plot(const std::string& path, std::string_view svg, double scale) {
  if (plot_format(path) == PlotFormat::kPng) {
    write_png(path, svg, scale);
    return;
  }
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << svg;
  if (!out) throw std::runtime_error("cannot write the plot " + path);
}

}  // namespace triage::output
