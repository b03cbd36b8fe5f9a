// The errors the Locktopus client library throws. Every one derives from
// locktopus::client::Error (a std::runtime_error), so one catch clause takes
// them all; the subclasses carry what the server said.
//
//   HttpError        the server answered HTTP with a status other than the
//                    expected one: a refused WebSocket handshake (e.g. 400
//                    for a bad namespace), or 404 from the statistics page.
//   ProtocolError    the server reported a protocol error ("communication
//                    error: <reason>") and closed the connection, or sent a
//                    message this library cannot make sense of.
//   ConnectionError  no connection could be made, or it dropped.
//
// Misuse of the API (locking twice on one client, an empty resource list)
// throws std::logic_error / std::invalid_argument instead, before anything
// is sent.
//
// Thread safety: immutable values.

#ifndef LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ERRORS_H_
#define LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ERRORS_H_

#include <stdexcept>
#include <string>

namespace locktopus::client {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class HttpError : public Error {
 public:
  HttpError(int status, std::string body)
      : Error("server answered HTTP " + std::to_string(status) + ": " + body),
        status_(status),
        body_(std::move(body)) {}
  int status() const { return status_; }             // e.g. 400
  const std::string& body() const { return body_; }  // the server's text

 private:
  int status_;
  std::string body_;
};

class ProtocolError : public Error {
 public:
  explicit ProtocolError(std::string reason)
      : Error("protocol error: " + reason), reason_(std::move(reason)) {}
  // The server's reason, e.g. "lock of 2 resources over max-resources (1)".
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

class ConnectionError : public Error {
 public:
  using Error::Error;
};

}  // namespace locktopus::client

#endif  // LOCKTOPUS_CLIENT_INCLUDE_LOCKTOPUS_ERRORS_H_
