// Clean: threads passing blocks to each other through a queue, thread_local strings, joined.
#include <pthread.h>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
static thread_local std::string t_name;
int main() {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::string*> q;
  bool done = false;
  std::thread consumer([&] {
    t_name = std::string(100, 'c');
    size_t total = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return !q.empty() || done; });
      if (q.empty()) break;
      std::string* s = q.front();
      q.pop_front();
      total += s->size();
      delete s;
    }
    (void)total;
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < 3; ++t)
    producers.emplace_back([&, t] {
      t_name = std::string(50 + t, 'p');
      for (int i = 0; i < 2000; ++i) {
        auto* s = new std::string(static_cast<size_t>(i % 200), 'x');
        std::lock_guard<std::mutex> lock(m);
        q.push_back(s);
        cv.notify_one();
      }
    });
  for (auto& p : producers) p.join();
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  consumer.join();
  return 0;
}
