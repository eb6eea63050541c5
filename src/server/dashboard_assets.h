#pragma once
// The dashboard's static files (web/dashboard/), compiled into the binary at build time by
// web/embed_assets.cmake (see src/server/CMakeLists.txt). Immutable, static storage: the views
// stay valid for the life of the process and may be read from any thread.
#include <span>
#include <string_view>

namespace triage::server {

struct EmbeddedAsset {
  std::string_view name;          // path relative to web/dashboard/, e.g. "app.js"
  std::string_view content_type;  // from the extension, e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

std::span<const EmbeddedAsset> embedded_assets();

}  // namespace triage::server
