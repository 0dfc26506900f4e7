#include "registry_client.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <string_view>
#include <thread>

#include "cocoon/error.h"
#include "digest.h"
#include "manifest.h"
#include "platform.h"
#include "util/json_limits.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

constexpr const char* manifest_accept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// Docker Hub's API lives on another host than its name.
std::string api_host(const std::string& registry)
{
    return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

std::string base_url(const std::string& host, const Config& config, const std::string& registry)
{
    auto settings = config.registries.find(registry);
    bool insecure = settings != config.registries.end() && settings->second.insecure;
    return (insecure ? "http://" : "https://") + api_host(host);
}

std::string base64(const std::string& text)
{
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

// key="value" pairs of a WWW-Authenticate challenge.
std::map<std::string, std::string> challenge_parameters(const std::string& header)
{
    std::map<std::string, std::string> parameters;
    size_t pos = header.find(' ');
    while (pos != std::string::npos && pos < header.size()) {
        size_t eq = header.find('=', pos);
        if (eq == std::string::npos)
            break;
        std::string key = header.substr(pos, eq - pos);
        key.erase(0, key.find_first_not_of(" ,"));
        std::string value;
        size_t end;
        if (header[eq + 1] == '"') {
            end = header.find('"', eq + 2);
            value = header.substr(eq + 2, end - eq - 2);
            end = end == std::string::npos ? end : end + 1;
        } else {
            end = header.find(',', eq + 1);
            value = header.substr(eq + 1, end - eq - 1);
        }
        parameters[key] = value;
        pos = end;
    }
    return parameters;
}

std::string url_escape(const std::string& text)
{
    std::string out;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out.push_back(static_cast<char>(c));
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

bool retryable(long status)
{
    return status == 429 || status >= 500;
}

void backoff(int attempt, const HttpResponse* response)
{
    int seconds = std::min(1 << attempt, 30);
    if (response) {
        try {
            int retry_after = std::stoi(response->header("retry-after"));
            seconds = std::clamp(retry_after, 1, 30);
        } catch (...) {
        }
    }
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
}

// Thrown from inside a download, which it stops: the rest of the body is never read.
TransferRefused larger_than_declared(const BlobRef& blob, const std::string& image,
                                     uint64_t received)
{
    return TransferRefused(fmt::format("blob {} of {} is larger than the manifest declares: "
                                       "{} bytes received, {} declared; refusing it",
                                       blob.digest, image, received, blob.size));
}

} // namespace

RegistryClient::RegistryClient(const std::string& registry, const std::string& repository,
                               const Config& config, std::optional<Credentials> credentials)
    : registry_(registry)
    , repository_(repository)
    , credentials_(std::move(credentials))
    , timeout_(config.transfer_timeout)
    , stall_timeout_(config.transfer_stall_timeout)
    , max_attempts_(static_cast<int>(config.transfer_retries) + 1)
{
    auto settings = config.registries.find(registry);
    insecure_ = settings != config.registries.end() && settings->second.insecure;
    if (settings != config.registries.end())
        for (const auto& mirror : settings->second.mirrors)
            bases_.push_back(base_url(mirror, config, mirror));
    bases_.push_back(base_url(registry, config, registry));
}

void RegistryClient::use_tokens(std::shared_ptr<const TokenStore> tokens)
{
    tokens_ = std::move(tokens);
    if (!tokens_)
        return;
    if (auto token =
            tokens_->find(TokenStore::key(registry_, repository_, credentials_), time(nullptr)))
        authorization_ = "Authorization: Bearer " + *token;
}

HttpResponse RegistryClient::send_once(const std::string& base, const std::string& method,
                                       const std::string& path, const std::string& accept,
                                       const BodySink& sink)
{
    HttpRequest request;
    request.method = method;
    request.url = base + "/v2/" + repository_ + path;
    if (!accept.empty())
        request.headers.push_back(accept);
    if (!authorization_.empty())
        request.headers.push_back(authorization_);
    request.timeout = timeout_;
    request.stall_timeout = stall_timeout_;
    return http_request(request, sink, max_manifest_size);
}

HttpResponse RegistryClient::send(const std::string& method, const std::string& path,
                                  const std::string& accept, const BodySink& sink,
                                  const std::function<void()>& restart)
{
    std::string last_error;
    for (const auto& base : bases_) {
        bool challenged = false;
        for (int attempt = 0; attempt < max_attempts_; ++attempt) {
            HttpResponse response;
            if (restart)
                restart();
            try {
                response = send_once(base, method, path, accept, sink);
            } catch (const TransferRefused&) {
                throw; // what the server sent is the problem: asking again would not help
            } catch (const Error& e) {
                last_error = e.what();
                if (attempt + 1 < max_attempts_)
                    backoff(attempt, nullptr);
                continue;
            }
            if (response.status == 401 && !challenged) {
                challenged = true;
                if (!authenticate(response))
                    return response;
                --attempt; // the retry with credentials is not a failure
                continue;
            }
            if (retryable(response.status) && attempt + 1 < max_attempts_) {
                backoff(attempt, &response);
                continue;
            }
            if (retryable(response.status))
                last_error = fmt::format("registry {} answered {} for {}", registry_,
                                         response.status, repository_);
            else
                return response;
            break;
        }
    }
    throw Error(last_error);
}

bool may_send_credentials(const std::string& realm, bool registry_insecure)
{
    return realm.starts_with("https://") || registry_insecure;
}

// Answers a 401 challenge. Returns true when new credentials were set up and the request
// should be repeated.
bool RegistryClient::authenticate(const HttpResponse& challenge)
{
    std::string header = challenge.header("www-authenticate");
    std::string basic =
        credentials_ ? "Basic " + base64(credentials_->username + ":" + credentials_->password)
                     : "";
    if (header.starts_with("Basic") || header.starts_with("basic")) {
        if (!credentials_)
            return false;
        authorization_ = "Authorization: " + basic;
        return true;
    }
    if (!header.starts_with("Bearer") && !header.starts_with("bearer"))
        return false;
    auto parameters = challenge_parameters(header);
    std::string realm = parameters["realm"];
    if (realm.empty())
        return false;
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                      "service=" + url_escape(parameters["service"]);
    std::string scope =
        parameters.count("scope") ? parameters["scope"] : "repository:" + repository_ + ":pull";
    url += "&scope=" + url_escape(scope);
    HttpRequest request;
    request.url = url;
    request.timeout = timeout_;
    request.stall_timeout = stall_timeout_;
    if (credentials_ && may_send_credentials(realm, insecure_))
        request.headers.push_back("Authorization: " + basic);
    HttpResponse response = http_request(request);
    if (response.status != 200)
        return false;
    try {
        auto document = parse_untrusted_json(response.body, "the token answer", max_manifest_size);
        std::string token = document.value("token", document.value("access_token", ""));
        if (token.empty())
            return false;
        authorization_ = "Authorization: Bearer " + token;
        if (tokens_) {
            // The distribution spec's default when the service says nothing.
            uint64_t expires_in = 60;
            if (auto it = document.find("expires_in");
                it != document.end() && it->is_number_unsigned())
                expires_in = it->get<uint64_t>();
            tokens_->remember(TokenStore::key(registry_, repository_, credentials_), token,
                              expires_in, time(nullptr));
        }
    } catch (const json::exception&) {
        return false;
    } catch (const Error&) {
        return false;
    }
    return true;
}

RegistryClient::Head RegistryClient::head_manifest(const std::string& reference)
{
    Head head;
    HttpResponse response;
    try {
        response = send("HEAD", "/manifests/" + reference, manifest_accept);
    } catch (const Error&) {
        return head;
    }
    head.reachable = true;
    std::string digest = response.header("docker-content-digest");
    if (response.status == 200 && !digest.empty())
        head.digest = digest;
    return head;
}

std::string RegistryClient::fetch_manifest(const std::string& reference, std::string* digest)
{
    std::string what = fmt::format("{}/{}:{}", registry_, repository_, reference);
    HttpResponse response = send("GET", "/manifests/" + reference, manifest_accept);
    if (response.status == 401)
        fail("registry {} refused access to {} (401 Unauthorized): {}", registry_, repository_,
             credentials_ ? "check your credentials for it (~/.config/cocoon/auth.json or "
                            "~/.docker/config.json)"
                          : "it needs credentials in ~/.config/cocoon/auth.json");
    if (response.status == 403)
        fail("registry {} denied access to {} (403 Forbidden)", registry_, repository_);
    if (response.status == 404)
        fail("image {} not found in registry {} (404)", what, registry_);
    if (response.status != 200)
        fail("registry {} answered {} for {}", registry_, response.status, what);
    *digest = sha256_digest(response.body);
    if (reference.starts_with("sha256:") && *digest != reference)
        fail("registry {} sent a manifest whose digest {} does not match {}", registry_, *digest,
             reference);
    return response.body;
}

ImageManifest RegistryClient::get_manifest(const std::string& reference)
{
    std::string digest;
    std::string body = fetch_manifest(reference, &digest);
    std::string what = fmt::format("{}/{}", registry_, repository_);
    std::optional<std::string> selected;
    ImageManifest manifest = parse_manifest(body, digest, node_architecture(), what, &selected);
    if (!selected)
        return manifest;
    std::string index_digest = digest;
    body = fetch_manifest(*selected, &digest);
    std::optional<std::string> nested;
    manifest = parse_manifest(body, digest, node_architecture(), what, &nested);
    if (nested)
        fail("{}: an image index points to another index", what);
    manifest.index_digest = index_digest;
    return manifest;
}

void RegistryClient::get_blob(const BlobRef& blob, int fd, const BlobProgress& progress)
{
    for (int attempt = 0;; ++attempt) {
        std::optional<Sha256> hash;
        uint64_t received = 0;
        auto restart = [&] {
            if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
                throw_errno("cannot rewind a download file");
            hash.emplace();
            received = 0;
        };
        BodySink sink = [&](const char* data, size_t size) {
            if (size > blob.size - received)
                throw larger_than_declared(blob, registry_ + "/" + repository_, received + size);
            hash->update(data, size);
            received += size;
            const char* p = data;
            while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    throw_errno("cannot write a downloaded layer to the image cache");
                p += n;
                size -= static_cast<size_t>(n);
            }
            if (progress)
                progress(received);
        };
        HttpResponse response = send("GET", "/blobs/" + blob.digest, "", sink, restart);
        if (response.status != 200)
            fail("registry {} answered {} for blob {} of {}", registry_, response.status,
                 blob.digest, repository_);
        std::string actual = hash->digest();
        if (actual == blob.digest && received == blob.size)
            return;
        if (attempt + 1 >= 2)
            fail("blob {} of {}/{} arrived with digest {} ({} bytes): refusing it", blob.digest,
                 registry_, repository_, actual, received);
    }
}

std::string RegistryClient::get_small_blob(const BlobRef& blob)
{
    if (blob.size > max_image_json_size)
        fail("blob {} of {}/{} declares {} bytes, more than the {} cocoon reads for an image "
             "configuration: refusing it",
             blob.digest, registry_, repository_, blob.size, max_image_json_size);
    std::string body;
    BodySink sink = [&](const char* data, size_t size) {
        if (size > blob.size - body.size())
            throw larger_than_declared(blob, registry_ + "/" + repository_, body.size() + size);
        body.append(data, size);
    };
    HttpResponse response = send("GET", "/blobs/" + blob.digest, "", sink, [&] { body.clear(); });
    if (response.status != 200)
        fail("registry {} answered {} for blob {} of {}", registry_, response.status, blob.digest,
             repository_);
    if (body.size() != blob.size || sha256_digest(body) != blob.digest)
        fail("blob {} of {}/{} does not match its digest: refusing it", blob.digest, registry_,
             repository_);
    return body;
}

} // namespace cocoon
