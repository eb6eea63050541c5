#pragma once
// Helpers shared by the composite route kinds (ensemble, pipeline, retrieve).
#include <boost/asio/awaitable.hpp>
#include <string>

#include "core/chat.h"
#include "routes/route.h"

namespace triage::routes {

class RouteTable;

// A request for a sub-task: `base`'s metadata (request id, key, cohort, category, user),
// temperature and top_p, with one user message holding `prompt`. The client's `body` is NOT
// carried over (tools, response_format and the original messages belong to the client's
// request, not to an intermediate prompt), and the sub-request never streams by itself.
core::ChatRequest sub_request(const core::ChatRequest& base, std::string prompt);

// Makes the trace name the catalog model that produced `answer` (model, tier, provider), for
// composite routes whose last model call is not the one whose answer is returned. Leaves the
// trace as it is when `answer.model` is not a catalog model (e.g. a retrieve route's output).
void attribute_answer(ExecContext& ctx, const RouteTable& table, const core::Completion& answer);

// Writes a complete answer to `sink` as one delta (role "assistant", content, tool calls).
// False when the client went away.
boost::asio::awaitable<bool> write_whole(core::StreamSink& sink, const core::Completion& answer);

// Appends a kRoute span named `name` with `detail`, from `t0` to now.
void push_route_span(ExecContext& ctx, const std::string& name, std::string detail, SteadyTime t0,
                     bool ok = true, std::string error = {});

}  // namespace triage::routes
