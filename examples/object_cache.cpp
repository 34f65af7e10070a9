// memkit example: a typed object cache (memkit/slab.hpp).
//
// Connections are made and dropped all the time and are all the same size: a slab cache of
// them hands each one out without a header and from the calling thread's magazine. The
// objects are ordinary C++ objects: constructed by construct() / make_unique(), destroyed by
// destroy() / the unique_ptr.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <memkit/slab.hpp>

struct Connection {
  int fd;
  std::string peer;
  Connection(int fd_in, std::string peer_in) : fd(fd_in), peer(std::move(peer_in)) {}
};

int main() {
  memkit::ObjectCache<Connection> conns("connection");

  std::vector<Connection*> open;
  for (int fd = 3; fd < 1003; ++fd) open.push_back(conns.construct(fd, "10.0.0." + std::to_string(fd % 256)));
  std::printf("opened %zu connections in cache '%s'; the last is fd %d from %s\n", open.size(),
              conns.name().c_str(), open.back()->fd, open.back()->peer.c_str());

  int sum = 0;
  for (Connection* c : open) {
    sum += c->fd;
    conns.destroy(c);  // ~Connection, then back to the cache
  }

  // Owned by a std::unique_ptr whose deleter gives the object back to the cache.
  memkit::ObjectCache<Connection>::unique_ptr listener = conns.make_unique(0, "0.0.0.0:8080");
  std::printf("listener on %s\n", listener->peer.c_str());
  listener.reset();

  const size_t pages = conns.shrink();  // empty slabs back to the page heap
  std::printf("closed them all (fd sum %d); shrink gave back %zu pages\n", sum, pages);

  // close() reports whether anything is still live (the destructor would do the same quietly
  // apart from memkit's warning).
  const int rc = conns.close();
  std::printf("cache closed: %s\n", rc == 0 ? "ok" : "objects still live");
  return sum == (3 + 1002) * 1000 / 2 && rc == 0 ? 0 : 1;
}
