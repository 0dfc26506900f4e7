#include "http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "cocoon/error.h"

namespace cocoon {

namespace {

constexpr long connect_timeout = 10; // seconds

struct Transfer {
    CURL* curl = nullptr;
    HttpResponse response;
    const BodySink* sink = nullptr;
    size_t max_body = 0;
    bool too_large = false;
    std::exception_ptr sink_error;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    bool out_of_time = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user)
{
    auto* transfer = static_cast<Transfer*>(user);
    std::string line(data, size * count);
    if (line.starts_with("HTTP/")) {
        transfer->response.headers.clear(); // a new response after a redirect
        return size * count;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t\r\n") + 1);
        transfer->response.headers[name] = value;
    }
    return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user)
{
    auto* transfer = static_cast<Transfer*>(user);
    size_t bytes = size * count;
    long status = 0;
    curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && transfer->sink && *transfer->sink) {
        try {
            (*transfer->sink)(data, bytes);
        } catch (...) {
            transfer->sink_error = std::current_exception();
            return 0; // aborts the transfer
        }
        return bytes;
    }
    if (transfer->response.body.size() + bytes > transfer->max_body) {
        transfer->too_large = true;
        return 0;
    }
    transfer->response.body.append(data, bytes);
    return bytes;
}

// The total timeout is kept here rather than with CURLOPT_TIMEOUT, whose error libcurl
// reports with the same code as a stall (CURLE_OPERATION_TIMEDOUT): the clock alone cannot
// tell them apart when the two limits come close.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    auto* transfer = static_cast<Transfer*>(user);
    if (transfer->deadline && std::chrono::steady_clock::now() >= *transfer->deadline) {
        transfer->out_of_time = true;
        return 1; // aborts the transfer
    }
    return 0;
}

std::string host_of(const std::string& url)
{
    auto start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    return url.substr(start, url.find('/', start) - start);
}

// CURLE_OPERATION_TIMEDOUT: the connect timeout or the stall limit.
[[noreturn]] void timed_out(CURL* c, const HttpRequest& request)
{
    curl_off_t connected = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
    std::string host = host_of(request.url);
    if (connected == 0)
        fail("cannot connect to {}: no answer within {} s", host, connect_timeout);
    fail("the transfer from {} stalled: under 1 KiB/s for transfer_stall_timeout ({} s) "
         "({})",
         host, request.stall_timeout, request.url);
}

void global_init()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

std::string HttpResponse::header(const std::string& name) const
{
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

HttpResponse http_request(const HttpRequest& request, const BodySink& sink, size_t max_body)
{
    global_init();
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl)
        fail("cannot initialise libcurl");
    Transfer transfer;
    transfer.curl = curl.get();
    transfer.sink = &sink;
    transfer.max_body = max_body;

    curl_slist* headers = nullptr;
    for (const auto& header : request.headers)
        headers = curl_slist_append(headers, header.c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);

    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(c, CURLOPT_NOBODY, request.method == "HEAD" ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    // Registries redirect blob downloads to storage; curl drops our Authorization header
    // when the host changes.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout);
    // A stalled or endless transfer fails instead of hanging the step.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.stall_timeout));
    if (request.timeout > 0)
        transfer.deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(request.timeout);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cocoon");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);

    CURLcode rc = curl_easy_perform(c);
    if (transfer.sink_error)
        std::rethrow_exception(transfer.sink_error);
    if (transfer.too_large)
        throw TransferRefused(fmt::format("{} sent more than {} bytes for {}: refusing it",
                                          host_of(request.url), max_body, request.url));
    if (transfer.out_of_time)
        throw TransferRefused(fmt::format(
            "{} did not complete {} within transfer_timeout ({} s); raise it in cocoon.yaml",
            host_of(request.url), request.url, request.timeout));
    if (rc == CURLE_OPERATION_TIMEDOUT)
        timed_out(c, request);
    if (rc != CURLE_OK)
        fail("cannot connect to {}: {}", host_of(request.url), curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
    return transfer.response;
}

} // namespace cocoon
