// A small HTTP client over libcurl for the registry protocol: one request at a time,
// bounded bodies, bodies optionally streamed to a sink. Never logs headers (they carry
// credentials).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cocoon/error.h"

namespace cocoon {

// A transfer stopped because of what the server sent (more than it may, for too long):
// asking again would not help, so callers do not retry it. A BodySink throws it to refuse
// a body.
class TransferRefused : public Error {
public:
    using Error::Error;
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers; // "Name: value"
    // Seconds: the most the whole request may take (0: no limit), and how long it may stay
    // below 1 KiB/s. Named after their cocoon.yaml keys in errors.
    uint64_t timeout = 3600;
    uint64_t stall_timeout = 60;
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body; // unless streamed to the sink

    std::string header(const std::string& name) const;
};

// Receives the body of a 200 response in pieces.
using BodySink = std::function<void(const char* data, size_t size)>;

// Performs the request. Throws Error("cannot connect to HOST: reason") when no response
// arrived or the transfer stalled, TransferRefused when a stored body exceeds `max_body`
// bytes or the request outlasts its timeout, and what the sink threw.
HttpResponse http_request(const HttpRequest& request, const BodySink& sink = {},
                          size_t max_body = 8 << 20);

} // namespace cocoon
