// Clang thread-safety annotations and an annotated mutex, so that
// -Wthread-safety proves at compile time that guarded state is only touched
// under its mutex. On other compilers the annotations expand to nothing.

#ifndef LOCKTOPUS_ENGINE_THREAD_ANNOTATIONS_H_
#define LOCKTOPUS_ENGINE_THREAD_ANNOTATIONS_H_

#include <mutex>

#if defined(__clang__)
#define LOCKTOPUS_TSA(x) __attribute__((x))
#else
#define LOCKTOPUS_TSA(x)
#endif

#define CAPABILITY(x) LOCKTOPUS_TSA(capability(x))
#define SCOPED_CAPABILITY LOCKTOPUS_TSA(scoped_lockable)
#define GUARDED_BY(x) LOCKTOPUS_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) LOCKTOPUS_TSA(pt_guarded_by(x))
#define REQUIRES(...) LOCKTOPUS_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) LOCKTOPUS_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) LOCKTOPUS_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LOCKTOPUS_TSA(release_capability(__VA_ARGS__))

namespace locktopus {

// std::mutex with the capability annotation.
class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for the life of the scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace locktopus

#endif  // LOCKTOPUS_ENGINE_THREAD_ANNOTATIONS_H_
