// Takes a write lock on a path, prints its fencing token while holding it,
// and releases it.
//
//   lock_example ws://127.0.0.1:9009/v1?namespace=demo users/42
//
// Exits 0 after releasing; 1 on any error, with the reason on stderr.

#include <locktopus/client.h>

#include <iostream>

namespace lt = locktopus::client;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: lock_example URL PATH\n";
    return 2;
  }
  try {
    lt::Client client(argv[1]);
    lt::Lock lock = client.lock({lt::Write(lt::ParsePath(argv[2]))});
    if (!lock.acquired_at_once()) {
      std::cout << "waiting for lock " << lock.id() << "\n";
      if (!lock.wait_for(std::chrono::seconds(30))) {
        std::cerr << "gave up after 30 s; the lock is cancelled\n";
        return 1;
      }
    }
    // Hand the token to whatever the lock protects, with every write.
    std::cout << "holding " << argv[2] << ", fencing token "
              << lock.fencing_token() << "\n";
    lock.release();
    std::cout << "released\n";
    return 0;
  } catch (const lt::HttpError& e) {
    std::cerr << "refused: HTTP " << e.status() << ": " << e.body() << "\n";
  } catch (const lt::ProtocolError& e) {
    std::cerr << "server reported: " << e.reason() << "\n";
  } catch (const std::exception& e) {  // ConnectionError, bad URL or path
    std::cerr << e.what() << "\n";
  }
  return 1;
}
