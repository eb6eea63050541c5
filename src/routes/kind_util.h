#pragma once
// Helpers for route kinds and checks parsing their typed config. Start-up only: every failure
// throws config::ConfigError at the field that caused it ("FILE:LINE: PATH: what").
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "config/yaml_util.h"

namespace triage::routes {

class Route;
class RouteTable;

// Compiles `pattern` (read from `field`, or from one of its list items); throws
// config::ConfigError at `field` with RE2's message when it does not compile. Errors are never
// logged by RE2 itself.
std::unique_ptr<RE2> compile_regex(const config::Field& field, const std::string& pattern,
                                   bool case_insensitive = false);

// Reads a field that may be one string or a list of strings ("category: billing" or
// "category: [billing, refunds]"); absent -> empty.
std::vector<std::string> string_or_list(const config::Field& field);

// Resolves the route or model named by the string `field` (a catalog model or a route declared
// earlier in the file: that ordering rule is what makes cycles impossible).
Route& resolve_child(RouteTable& table, const config::Field& field);

}  // namespace triage::routes
