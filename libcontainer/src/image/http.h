// A small HTTP client over libcurl for the registry protocol: one request at a time,
// bounded bodies, bodies optionally streamed to a sink. Never logs headers (they carry
// credentials).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cocoon {

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers; // "Name: value"
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;                            // unless streamed to the sink

    std::string header(const std::string& name) const;
};

// Receives the body of a 200 response in pieces.
using BodySink = std::function<void(const char* data, size_t size)>;

// Performs the request. Throws Error("cannot connect to HOST: reason") when no response
// arrived, and when a stored body exceeds `max_body` bytes.
HttpResponse http_request(const HttpRequest& request, const BodySink& sink = {},
                          size_t max_body = 8 << 20);

} // namespace cocoon
