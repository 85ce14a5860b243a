// Hands items from FUSE worker threads to the JS thread.
//
// Like a napi thread-safe function, with one difference that matters here: after
// draining, the JS thread keeps polling the queue for a short while before going
// back to sleep. Waking the sleeping event loop on another CPU costs ~90 us on
// this kind of VM; the requests of one path walk (LOOKUP self, READLINK, LOOKUP
// <pid>, OPEN ...) come a few tens of microseconds apart, so all but the first
// are taken without that wakeup. Workers signal the loop (uv_async_send) only
// when it is not polling.
#pragma once

#include <napi.h>
#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>

namespace procfuse {

template <typename T>
class JsQueue {
 public:
  // deliver runs on the JS thread inside a handle scope; drop frees an item that
  // will never be delivered.
  using Deliver = std::function<void(Napi::Env, T*)>;
  using Drop = std::function<void(T*)>;

  // Created on the JS thread. Owns itself: Close() frees it once libuv is done.
  static JsQueue* Create(Napi::Env env, Deliver deliver, Drop drop, unsigned spin_us) {
    auto* q = new JsQueue(env, std::move(deliver), std::move(drop), spin_us);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_async_init(loop, &q->async_, &JsQueue::OnAsync);
    q->async_.data = q;
    uv_unref(reinterpret_cast<uv_handle_t*>(&q->async_));
    return q;
  }

  // Any thread. Returns false (and the caller keeps ownership) once closed.
  bool Push(T* item) {
    bool polling;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      items_.push_back(item);
      polling = polling_.load();
    }
    if (!polling) uv_async_send(&async_);
    return true;
  }

  // JS thread: keep the event loop alive while the queue may receive items.
  void Ref() { uv_ref(reinterpret_cast<uv_handle_t*>(&async_)); }
  void Unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&async_)); }

  // JS thread. Drops what is queued; later Push calls fail.
  void Close() {
    std::deque<T*> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      left.swap(items_);
    }
    for (T* item : left) drop_(item);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_),
             [](uv_handle_t* h) { delete static_cast<JsQueue*>(h->data); });
  }

 private:
  JsQueue(Napi::Env env, Deliver deliver, Drop drop, unsigned spin_us)
      : env_(env), deliver_(std::move(deliver)), drop_(std::move(drop)), spin_us_(spin_us) {}

  static void OnAsync(uv_async_t* handle) { static_cast<JsQueue*>(handle->data)->Drain(); }

  void Drain() {
    Napi::HandleScope scope(env_);
    for (;;) {
      std::deque<T*> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(items_);
      }
      if (!batch.empty()) {
        for (T* item : batch) deliver_(env_, item);
        continue;
      }
      if (spin_us_ == 0 || closed_) return;
      // Nothing queued: poll a little before sleeping.
      polling_ = true;
      uint64_t until = uv_hrtime() + static_cast<uint64_t>(spin_us_) * 1000;
      bool got = false;
      while (uv_hrtime() < until) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!items_.empty()) {
            got = true;
            break;
          }
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      polling_ = false;
      if (got) continue;
      // A worker that saw polling_ == true did not signal: look once more.
      std::lock_guard<std::mutex> lock(mu_);
      if (items_.empty()) return;
    }
  }

  Napi::Env env_;
  Deliver deliver_;
  Drop drop_;
  const unsigned spin_us_;
  uv_async_t async_;
  std::mutex mu_;
  std::deque<T*> items_;
  std::atomic<bool> polling_{false};
  bool closed_ = false;
};

}  // namespace procfuse
