#pragma once
// Pieces the API handlers share: the image JSON and a finished upload's answer, client text
// checks, query helpers, and the names every api/ file uses.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>
#include <initializer_list>
#include <string>

#include "core/types.h"
#include "http/request.h"
#include "http/response.h"
#include "service/content_access.h"
#include "service/publish_step.h"

namespace imgd::api {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using boost::asio::awaitable;
using http::RequestContext;
using http::Response;

constexpr size_t kMaxName = 1024;
constexpr size_t kMaxDescription = 8192;

// The seed's image JSON; imageUrl from access (signed when it has to be).
boost::json::object ImageJson(const Image& im, const ContentAccess& access);
// A finished upload's answer: the image JSON (with duplicate: true when the bytes matched an
// image the caller had) and its Location; 201 for a new image when `created_status`, 200
// otherwise.
Response UploadAnswer(const UploadResult& result, const ContentAccess& access, bool created_status);
// [{imageId, distance}, ...] of near-duplicates.
boost::json::array SimilarJson(const std::vector<SimilarImage>& similar);
// ?visibility= / a visibility field: "public" or "private", 400 naming it otherwise.
std::string CheckVisibility(const std::string& v);
// Text from a client: bounded, valid UTF-8 without control characters (newline and tab
// allowed when multiline); 400 naming the field otherwise. Returns v.
std::string CheckText(const std::string& v, const char* field, size_t max, bool multiline);
// 400 for a query parameter not in allowed.
void RejectUnknownQuery(const http::RequestContext& ctx,
                        std::initializer_list<const char*> allowed);
// ?onDuplicate=return|reject|new (default return); 400 otherwise.
DuplicatePolicy ParsePolicy(const http::RequestContext& ctx);
// "Image/JPEG; charset=x" → "image/jpeg".
std::string MediaType(const std::string& content_type);

}  // namespace imgd::api
