/*
 * memlogd_native: the few AF_UNIX / fd syscalls that Node.js does not expose.
 *
 * Node's `net` cannot do SOCK_DGRAM unix sockets, SCM_RIGHTS fd passing,
 * SO_PASSCRED/SCM_CREDENTIALS or SO_PEERCRED, so this addon wraps exactly
 * those syscalls, plus non-blocking read()/recv() for the fds memlogd reads on its
 * event loop (received pipes and sockets, /dev/kmsg), socket and poll state, and
 * clock_gettime, and nothing more. There is no policy
 * here: the TypeScript side (lib/native/index.ts) decides what an error means.
 *
 * Conventions for every export:
 *   - A syscall failure is reported by RETURNING a negative errno (a JS
 *     number); nothing throws for that. Only a wrong JS argument type throws
 *     (a TypeError with code ERR_INVALID_ARG_TYPE).
 *   - Every fd created here is close-on-exec (SOCK_CLOEXEC, O_CLOEXEC,
 *     MSG_CMSG_CLOEXEC), so the daemon never leaks fds into children.
 *   - Calls are retried on EINTR, except close() (see js_close).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Linux's SCM_MAX_FD: the most fds one SCM_RIGHTS message can carry. */
#define MAX_FDS 253

/* Retry a syscall expression while it fails with EINTR. */
#define RETRY(expr) ({ long r_; do { r_ = (long)(expr); } while (r_ == -1 && errno == EINTR); r_; })

/* Any napi failure that is not a syscall error: throw (if nothing is pending
 * yet) and bail out of the export with NULL (=> undefined + exception). */
#define NAPI(call)                                                           \
  do {                                                                       \
    if ((call) != napi_ok) { throw_napi_failure(env); return NULL; }         \
  } while (0)

static void throw_napi_failure(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "ERR_MEMLOGD_NATIVE",
                     info && info->error_message ? info->error_message : "Node-API call failed");
  }
}

/* ---- small value helpers ------------------------------------------------ */

static napi_value num(napi_env env, int64_t v) {
  napi_value r = NULL;
  napi_create_int64(env, v, &r);
  return r;
}

/* Return -errno of the last failure as a JS number. */
static napi_value neg_errno(napi_env env) { return num(env, -(int64_t)errno); }

/* Return `rc` when >= 0 else -errno. */
static napi_value rc_or_errno(napi_env env, long rc) { return rc < 0 ? neg_errno(env) : num(env, rc); }

static bool type_error(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return false;
}

static bool arg_int(napi_env env, napi_value v, const char *what, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return type_error(env, what);
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* Booleans, or numbers taken as truthy/falsy. */
static bool arg_bool(napi_env env, napi_value v, const char *what, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_boolean) return napi_get_value_bool(env, v, out) == napi_ok;
  if (t == napi_number) {
    int32_t n = 0;
    napi_get_value_int32(env, v, &n);
    *out = n != 0;
    return true;
  }
  return type_error(env, what);
}

static bool arg_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return type_error(env, what);
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

/* Fetch up to `n` arguments (missing ones are `undefined`). */
#define ARGS(n)                                                              \
  size_t argc = (n);                                                         \
  napi_value argv[(n) > 0 ? (n) : 1];                                        \
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                \
  (void)argv

#define ARG_INT(i, var, what) int32_t var; if (!arg_int(env, argv[i], what, &var)) return NULL
/* The common signatures: (fd) and (fd, int). */
#define FD_ARGS() ARGS(1); ARG_INT(0, fd, "fd must be a number")
#define FD_INT_ARGS(var) ARGS(2); ARG_INT(0, fd, "fd must be a number"); ARG_INT(1, var, #var " must be a number")

/* Fill a sockaddr_un from a JS string. Returns 0 or -errno: -ENAMETOOLONG if
 * it does not fit sun_path with its NUL, -EINVAL for '' or an embedded NUL
 * (either would silently name a different, abstract or truncated, socket). */
static int arg_sockaddr(napi_env env, napi_value v, struct sockaddr_un *sa, socklen_t *salen, bool *ok) {
  napi_valuetype t;
  size_t len = 0;
  *ok = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    type_error(env, "path must be a string");
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return 0;
  *ok = true;
  if (len >= sizeof(sa->sun_path)) return -ENAMETOOLONG;
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  napi_get_value_string_utf8(env, v, sa->sun_path, sizeof(sa->sun_path), &len);
  if (len == 0 || strlen(sa->sun_path) != len) return -EINVAL;
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  return 0;
}

/* ---- sockets ------------------------------------------------------------ */

static napi_value js_socketDgram(napi_env env, napi_callback_info info) {
  (void)info;
  return rc_or_errno(env, socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

static napi_value js_socketStream(napi_env env, napi_callback_info info) {
  (void)info;
  return rc_or_errno(env, socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

/* bind(fd, path) and connect(fd, path) share everything but the syscall.
 * connect is retried on EINTR too: an interrupted AF_UNIX connect has not
 * half-established anything, so starting again is safe. */
static napi_value addr_call(napi_env env, napi_callback_info info, bool is_bind) {
  ARGS(2);
  ARG_INT(0, fd, "fd must be a number");
  struct sockaddr_un sa;
  socklen_t salen = 0;
  bool ok;
  int rc = arg_sockaddr(env, argv[1], &sa, &salen, &ok);
  if (!ok) return NULL;
  if (rc < 0) return num(env, rc);
  if (is_bind) return rc_or_errno(env, RETRY(bind(fd, (struct sockaddr *)&sa, salen)));
  return rc_or_errno(env, RETRY(connect(fd, (struct sockaddr *)&sa, salen)));
}

static napi_value js_bind(napi_env env, napi_callback_info info) { return addr_call(env, info, true); }
static napi_value js_connect(napi_env env, napi_callback_info info) { return addr_call(env, info, false); }

static napi_value js_listen(napi_env env, napi_callback_info info) {
  FD_INT_ARGS(backlog);
  return rc_or_errno(env, listen(fd, backlog));
}

/* accept(fd) -> connected fd | -errno (e.g. -EAGAIN when none is waiting).
 * The query server accepts itself, so that it can write to readers with
 * non-blocking sends outside libuv's write queue (see lib/query-server.ts). */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  FD_ARGS();
  return rc_or_errno(env, RETRY(accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)));
}

/* shutdown(fd, how) -> 0 | -errno; how: 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR. Lets the query
 * server send its last record, end its side, and keep reading what the client still sends:
 * closing with unread input would make the kernel reset the connection and lose the record. */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  FD_INT_ARGS(how);
  return rc_or_errno(env, shutdown(fd, how));
}

/* setSendBuffer(fd, bytes) -> granted bytes | -errno. SO_SNDBUFFORCE first (root may exceed
 * net.core.wmem_max), then SO_SNDBUF (clamped by the kernel). Returns what the kernel set. */
static napi_value js_setSendBuffer(napi_env env, napi_callback_info info) {
  FD_INT_ARGS(bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) < 0)
    return neg_errno(env);
  int got = 0;
  socklen_t len = sizeof(got);
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) < 0) return neg_errno(env);
  return num(env, got);
}

/* Pathname sockets give their path; unnamed ones ''; abstract ones are
 * rendered '@name' (the ss(8) convention) since JS strings cannot start
 * with the kernel's NUL marker usefully. */
static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  FD_ARGS();
  struct sockaddr_un sa;
  socklen_t len = sizeof(sa);
  memset(&sa, 0, sizeof(sa));
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return neg_errno(env);
  if (sa.sun_family != AF_UNIX) return num(env, -EAFNOSUPPORT);
  size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
  if (n > sizeof(sa.sun_path)) n = sizeof(sa.sun_path);
  napi_value r;
  if (n > 0 && sa.sun_path[0] == '\0') {
    char tmp[sizeof(sa.sun_path)];
    tmp[0] = '@';
    memcpy(tmp + 1, sa.sun_path + 1, n - 1);
    NAPI(napi_create_string_utf8(env, tmp, n, &r));
  } else {
    NAPI(napi_create_string_utf8(env, sa.sun_path, strnlen(sa.sun_path, n), &r));
  }
  return r;
}

/* Control buffer big enough for a full SCM_RIGHTS plus one SCM_CREDENTIALS;
 * the union gives it cmsghdr alignment. */
union recv_ctl {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
};

/* recvmsg(fd, buf): ONE datagram, never blocks. MSG_TRUNC makes the kernel
 * return the datagram's real length even when buf was too short. */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  ARGS(2);
  ARG_INT(0, fd, "fd must be a number");
  void *data = NULL;
  size_t cap = 0;
  if (!arg_buffer(env, argv[1], "buf must be a Buffer", &data, &cap)) return NULL;

  union recv_ctl ctl;
  struct iovec iov = { .iov_base = data, .iov_len = cap };
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof(ctl.buf);
  long n = RETRY(recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | MSG_TRUNC));
  if (n < 0) return neg_errno(env);

  /* Collect every passed fd and the credentials first, so that nothing is
   * lost if building the JS result fails: then we close the fds. */
  int fds[sizeof(ctl.buf) / sizeof(int)];
  size_t nfds = 0;
  struct ucred cred = { .pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };
  bool have_cred = false;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    size_t payload = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t k = payload / sizeof(int);
      memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
      nfds += k;
    } else if (c->cmsg_type == SCM_CREDENTIALS && payload >= sizeof(cred)) {
      memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      have_cred = true;
    }
  }

  napi_value r, arr, v;
  bool ok = napi_create_object(env, &r) == napi_ok && napi_create_array_with_length(env, nfds, &arr) == napi_ok;
  for (size_t i = 0; ok && i < nfds; i++)
    ok = napi_create_int32(env, fds[i], &v) == napi_ok && napi_set_element(env, arr, (uint32_t)i, v) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "bytes", num(env, (size_t)n < cap ? n : (long)cap)) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "fullLength", num(env, n)) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "fds", arr) == napi_ok;
  ok = ok && napi_get_boolean(env, (msg.msg_flags & MSG_CTRUNC) != 0, &v) == napi_ok &&
       napi_set_named_property(env, r, "ctrunc", v) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "pid", num(env, have_cred ? cred.pid : -1)) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "uid", num(env, have_cred ? (int64_t)cred.uid : -1)) == napi_ok;
  ok = ok && napi_set_named_property(env, r, "gid", num(env, have_cred ? (int64_t)cred.gid : -1)) == napi_ok;
  if (!ok) {
    for (size_t i = 0; i < nfds; i++) close(fds[i]);
    throw_napi_failure(env);
    return NULL;
  }
  return r;
}

/* sendmsg(fd, payload, fds): one message on a connected socket, with one
 * SCM_RIGHTS cmsg when fds is non-empty. MSG_NOSIGNAL: a dead peer gives
 * -EPIPE rather than killing the daemon with SIGPIPE. */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  ARGS(3);
  ARG_INT(0, fd, "fd must be a number");
  void *data = NULL;
  size_t len = 0;
  if (!arg_buffer(env, argv[1], "payload must be a Buffer", &data, &len)) return NULL;
  bool is_array = false;
  NAPI(napi_is_array(env, argv[2], &is_array));
  if (!is_array) { type_error(env, "fds must be an array of numbers"); return NULL; }
  uint32_t nfds = 0;
  NAPI(napi_get_array_length(env, argv[2], &nfds));

  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)]; } ctl;
  int fds[MAX_FDS];
  for (uint32_t i = 0; i < nfds && i < MAX_FDS; i++) {
    napi_value e;
    NAPI(napi_get_element(env, argv[2], i, &e));
    if (!arg_int(env, e, "fds must be an array of numbers", &fds[i])) return NULL;
  }
  if (nfds > MAX_FDS) return num(env, -EINVAL); /* what the kernel would say */

  struct iovec iov = { .iov_base = data, .iov_len = len };
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return rc_or_errno(env, RETRY(sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)));
}

static napi_value fd_pair(napi_env env, int rc, const int p[2]) {
  if (rc < 0) return neg_errno(env);
  napi_value arr;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_set_element(env, arr, 0, num(env, p[0])) != napi_ok ||
      napi_set_element(env, arr, 1, num(env, p[1])) != napi_ok) {
    close(p[0]);
    close(p[1]);
    throw_napi_failure(env);
    return NULL;
  }
  return arr;
}

/* socketpair(1 = stream | 2 = dgram | 5 = seqpacket, the SOCK_* numbers): blocking, cloexec.
 * seqpacket: message boundaries and fds per message, and an end of file when the peer closes
 * (a graceful restart's channel). */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  ARGS(1);
  ARG_INT(0, type, "type must be a number");
  int p[2];
  if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET) return num(env, -EINVAL);
  int rc = socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, p);
  return fd_pair(env, rc, p);
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int p[2];
  return fd_pair(env, pipe2(p, O_CLOEXEC), p);
}

/* mkfifo(path, mode), which Node lacks: logexec's fifo mode makes the FIFOs LinuxKit init makes
 * for a service's stdout and stderr. Returns 0 or -errno; -EINVAL for '' or an embedded NUL. */
static napi_value js_mkfifo(napi_env env, napi_callback_info info) {
  ARGS(2);
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string) {
    type_error(env, "path must be a string");
    return NULL;
  }
  ARG_INT(1, mode, "mode must be a number");
  char path[4096]; /* PATH_MAX on Linux, NUL included */
  size_t len = 0;
  NAPI(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
  if (len >= sizeof(path)) return num(env, -ENAMETOOLONG);
  NAPI(napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len));
  if (len == 0 || strlen(path) != len) return num(env, -EINVAL);
  return rc_or_errno(env, mkfifo(path, (mode_t)mode));
}

/* Never retried: on Linux the fd is released even when close() reports
 * EINTR, and a retry could close an fd another thread just got. Like libuv,
 * EINTR (and EINPROGRESS) therefore count as success. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  FD_ARGS();
  if (close(fd) < 0 && errno != EINTR && errno != EINPROGRESS) return neg_errno(env);
  return num(env, 0);
}

/* ---- fd flags and socket options --------------------------------------- */

static napi_value js_setNonBlocking(napi_env env, napi_callback_info info) {
  ARGS(2);
  ARG_INT(0, fd, "fd must be a number");
  bool on;
  if (!arg_bool(env, argv[1], "on must be a boolean", &on)) return NULL;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return neg_errno(env);
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0) return neg_errno(env);
  return num(env, 0);
}

static napi_value js_setCloexec(napi_env env, napi_callback_info info) {
  FD_ARGS();
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0) return neg_errno(env);
  if (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return neg_errno(env);
  return num(env, 0);
}

static napi_value js_setPassCred(napi_env env, napi_callback_info info) {
  ARGS(2);
  ARG_INT(0, fd, "fd must be a number");
  bool on;
  if (!arg_bool(env, argv[1], "on must be a boolean", &on)) return NULL;
  int v = on ? 1 : 0;
  return rc_or_errno(env, setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, sizeof(v)));
}

static napi_value js_peerCred(napi_env env, napi_callback_info info) {
  FD_ARGS();
  struct ucred c;
  socklen_t len = sizeof(c);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0) return neg_errno(env);
  napi_value arr;
  NAPI(napi_create_array_with_length(env, 3, &arr));
  NAPI(napi_set_element(env, arr, 0, num(env, c.pid)));
  NAPI(napi_set_element(env, arr, 1, num(env, c.uid)));
  NAPI(napi_set_element(env, arr, 2, num(env, c.gid)));
  return arr;
}

/* [a, b] as a JS array. */
static napi_value int_pair(napi_env env, int64_t a, int64_t b) {
  napi_value arr;
  NAPI(napi_create_array_with_length(env, 2, &arr));
  NAPI(napi_set_element(env, arr, 0, num(env, a)));
  NAPI(napi_set_element(env, arr, 1, num(env, b)));
  return arr;
}

static napi_value js_fdFlags(napi_env env, napi_callback_info info) {
  FD_ARGS();
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0) return neg_errno(env);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return neg_errno(env);
  return int_pair(env, fdfl, fl);
}

/* The (fd, buf, offset, length) arguments of read and recv: 1 with fd and the span
 * buf[offset, offset+length); 0 when that span is not inside buf; -1 with an exception pending
 * (a wrong argument type). */
static int arg_span(napi_env env, napi_callback_info info, int32_t *fd, char **span, size_t *length) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) { throw_napi_failure(env); return -1; }
  void *data = NULL;
  size_t len = 0;
  int32_t offset, n;
  if (!arg_int(env, argv[0], "fd must be a number", fd) ||
      !arg_buffer(env, argv[1], "buf must be a Buffer", &data, &len) ||
      !arg_int(env, argv[2], "offset must be a number", &offset) ||
      !arg_int(env, argv[3], "length must be a number", &n)) return -1;
  if (offset < 0 || n < 0 || (size_t)offset + (size_t)n > len) return 0;
  *span = (char *)data + offset;
  *length = (size_t)n;
  return 1;
}

/* read(fd, buf, offset, length) -> bytes read (0 at end of file) | -errno. One read(2) into
 * buf[offset, offset+length). For fds Node cannot read without a thread-pool thread or a
 * stream it refuses: a character device such as /dev/kmsg, whose ABI is one record per read
 * (-EINVAL if the buffer is too small, -EPIPE when records were overwritten), and the pipes
 * memlogd reopens for itself; polled for readiness with pollStart. The fd must be
 * non-blocking, in a file description nobody else can change: a blocking one blocks the loop. */
/* read and recv below: the same arguments, checks and result. */
static napi_value read_or_recv(napi_env env, napi_callback_info info, bool sock) {
  int32_t fd;
  char *span;
  size_t length;
  int ok = arg_span(env, info, &fd, &span, &length);
  if (ok <= 0) return ok < 0 ? NULL : num(env, -EINVAL);
  return rc_or_errno(env, sock ? RETRY(recv(fd, span, length, MSG_DONTWAIT)) : RETRY(read(fd, span, length)));
}

static napi_value js_read(napi_env env, napi_callback_info info) { return read_or_recv(env, info, false); }

/* recv(fd, buf, offset, length) -> bytes received (0 at end of stream) | -errno. One recv(2)
 * with MSG_DONTWAIT: it never blocks, whatever O_NONBLOCK says. A socket memlogd is handed
 * shares its file description with the sender, who can clear O_NONBLOCK on it at any time;
 * read() would then block the whole daemon, recv() with MSG_DONTWAIT cannot. No control
 * buffer: fds a sender passes on the stream are closed by the kernel (MSG_CTRUNC). */
static napi_value js_recv(napi_env env, napi_callback_info info) { return read_or_recv(env, info, true); }

/* sockInfo(fd) -> [SO_TYPE, SO_ACCEPTCONN] | -errno (-ENOTSOCK for a non-socket). Lets memlogd
 * refuse a listening socket (it would be held, and stay in LISTEN, until someone connects) and
 * anything that is not a byte stream. */
static napi_value js_sockInfo(napi_env env, napi_callback_info info) {
  FD_ARGS();
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return neg_errno(env);
  len = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return neg_errno(env);
  return int_pair(env, type, listening);
}

/* pollNow(fd, events) -> revents (POLLIN 1, POLLOUT 4, POLLERR 8, POLLHUP 16, ...) | -errno.
 * poll(2) with a zero timeout: the state of fd right now, never waiting. */
static napi_value js_pollNow(napi_env env, napi_callback_info info) {
  FD_INT_ARGS(events);
  struct pollfd p = { .fd = fd, .events = (short)events, .revents = 0 };
  long rc = RETRY(poll(&p, 1, 0));
  if (rc < 0) return neg_errno(env);
  return num(env, p.revents);
}

/* clockGettime(id) -> [sec, nsec] | -errno. Node has Date.now() (milliseconds of
 * CLOCK_REALTIME) and hrtime (CLOCK_MONOTONIC) but not the realtime clock to the microsecond,
 * nor CLOCK_BOOTTIME: kernel log times need both. */
static napi_value js_clockGettime(napi_env env, napi_callback_info info) {
  ARGS(1);
  ARG_INT(0, id, "id must be a number");
  struct timespec ts;
  if (clock_gettime((clockid_t)id, &ts) < 0) return neg_errno(env);
  napi_value arr;
  NAPI(napi_create_array_with_length(env, 2, &arr));
  NAPI(napi_set_element(env, arr, 0, num(env, (int64_t)ts.tv_sec)));
  NAPI(napi_set_element(env, arr, 1, num(env, (int64_t)ts.tv_nsec)));
  return arr;
}

/* ---- many fds behind one readiness --------------------------------------- */

/*
 * An epoll set of memlogd's own, watched by ONE poll (pollStart on the epoll fd): a uv_poll per
 * fd cost ~1.2 KB of memory each (the handle, its async context, references, cleanup hook),
 * which for 10,000 idle sources was more than everything else they cost. Here an fd costs the
 * kernel's epoll entry, and memlogd one slot in an array indexed by a token of its choosing.
 * Level-triggered: an fd not drained is reported again.
 */

/* epollCreate() -> epoll fd (close-on-exec) | -errno */
static napi_value js_epollCreate(napi_env env, napi_callback_info info) {
  (void)info;
  return rc_or_errno(env, epoll_create1(EPOLL_CLOEXEC));
}

/* epollCtl(epfd, op, fd, events, token) -> 0 | -errno. op: 1 add, 2 delete, 3 modify
 * (EPOLL_CTL_*); events: EPOLLIN 1, EPOLLOUT 4; token: any int32, returned by epollWait. */
static napi_value js_epollCtl(napi_env env, napi_callback_info info) {
  ARGS(5);
  ARG_INT(0, epfd, "epfd must be a number");
  ARG_INT(1, op, "op must be a number");
  ARG_INT(2, fd, "fd must be a number");
  ARG_INT(3, events, "events must be a number");
  ARG_INT(4, token, "token must be a number");
  struct epoll_event ev = { .events = (uint32_t)events, .data = { .u64 = 0 } };
  ev.data.u32 = (uint32_t)token;
  return rc_or_errno(env, epoll_ctl(epfd, op, fd, &ev));
}

/* epollWait(epfd, tokens) -> n | -errno: the tokens of up to tokens.length ready fds, written
 * into the Int32Array `tokens`; never waits (the caller polls epfd for readiness). */
static napi_value js_epollWait(napi_env env, napi_callback_info info) {
  ARGS(2);
  ARG_INT(0, epfd, "epfd must be a number");
  bool is = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    type_error(env, "tokens must be an Int32Array");
    return NULL;
  }
  struct epoll_event evs[256];
  int max = length < 256 ? (int)length : 256;
  if (max == 0) return num(env, -EINVAL);
  long n = RETRY(epoll_wait(epfd, evs, max, 0));
  if (n < 0) return neg_errno(env);
  int32_t *out = data;
  for (long i = 0; i < n; i++) out[i] = (int32_t)evs[i].data.u32;
  return num(env, n);
}

/* ---- readiness through libuv ------------------------------------------- */

/*
 * One poll = one uv_poll_t on Node's own loop, so readiness arrives between
 * other JS callbacks with no extra thread. Memory is owned jointly by the
 * libuv handle and the JS external: it is freed once the handle has closed
 * AND the external has been garbage collected, so pollStop on a stale handle
 * never touches freed memory. An async cleanup hook closes a still-running
 * poll when the environment is torn down (worker exit), since Node refuses
 * to close a loop with open handles.
 */
struct poll {
  uv_poll_t h;             /* first member: (struct poll *)&h == p */
  napi_env env;
  napi_ref cb;             /* strong ref to the JS callback */
  napi_async_context ctx;  /* async_hooks / AsyncLocalStorage identity */
  napi_async_cleanup_hook_handle hook;
  bool closing, closed, finalized;
};

static void poll_on_close(uv_handle_t *h) {
  struct poll *p = (struct poll *)h;
  if (p->cb) napi_delete_reference(p->env, p->cb);
  if (p->ctx) napi_async_destroy(p->env, p->ctx);
  /* Removing the hook last: it may let a waiting teardown proceed. */
  if (p->hook) napi_remove_async_cleanup_hook(p->hook);
  p->closed = true;
  if (p->finalized) free(p);
}

static void poll_close(struct poll *p) {
  if (p->closing) return;
  p->closing = true;
  uv_poll_stop(&p->h);
  uv_close((uv_handle_t *)&p->h, poll_on_close);
}

static void poll_on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  poll_close(arg); /* poll_on_close removes the hook, which completes it */
}

static void poll_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct poll *p = data;
  p->finalized = true;
  if (p->closed) free(p);
}

/* libuv readiness -> callback(status, events) on the main thread.
 * napi_make_callback with our async context enters a proper callback scope
 * (async_hooks before/after, nextTick and microtask queues drained after).
 * A JS exception cannot propagate through libuv, so it is handed to
 * napi_fatal_exception: process 'uncaughtException' (or exit) as for any
 * other uncaught error, instead of being silently lost. */
static void poll_on_event(uv_poll_t *h, int status, int events) {
  struct poll *p = (struct poll *)h;
  if (p->closing) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, args[2], result;
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, status, &args[0]) == napi_ok &&
      napi_create_int32(env, events, &args[1]) == napi_ok) {
    napi_make_callback(env, p->ctx, recv, cb, 2, args, &result);
    bool pending = false;
    napi_value exc;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

/* pollStart(fd, events, callback) -> handle | -errno.
 * Note: uv_poll_init puts fd in O_NONBLOCK mode, and an fd must not be
 * closed while it is polled (pollStop first). */
static napi_value js_pollStart(napi_env env, napi_callback_info info) {
  ARGS(3);
  ARG_INT(0, fd, "fd must be a number");
  ARG_INT(1, events, "events must be a number");
  napi_valuetype t;
  NAPI(napi_typeof(env, argv[2], &t));
  if (t != napi_function) { type_error(env, "callback must be a function"); return NULL; }
  events &= UV_READABLE | UV_WRITABLE;
  if (events == 0) return num(env, -EINVAL);

  uv_loop_t *loop;
  NAPI(napi_get_uv_event_loop(env, &loop));
  struct poll *p = calloc(1, sizeof(*p));
  if (p == NULL) return num(env, -ENOMEM);
  p->env = env;
  int rc = uv_poll_init(loop, &p->h, fd);
  if (rc < 0) { free(p); return num(env, rc); } /* libuv codes are -errno */

  /* From here on the handle is live: every exit goes through poll_close.
   * Until the external exists nothing else owns p, hence finalized=true. */
  napi_value name, ext = NULL;
  p->finalized = true;
  bool ok = napi_create_reference(env, argv[2], 1, &p->cb) == napi_ok &&
            napi_create_string_utf8(env, "memlogd:poll", NAPI_AUTO_LENGTH, &name) == napi_ok &&
            napi_async_init(env, NULL, name, &p->ctx) == napi_ok &&
            napi_add_async_cleanup_hook(env, poll_on_env_teardown, p, &p->hook) == napi_ok;
  if (ok) {
    p->finalized = false;
    if (napi_create_external(env, p, poll_finalize, NULL, &ext) != napi_ok) {
      p->finalized = true;
      ok = false;
    }
  }
  if (!ok) {
    poll_close(p);
    throw_napi_failure(env);
    return NULL;
  }
  rc = uv_poll_start(&p->h, events, poll_on_event);
  if (rc < 0) {
    poll_close(p); /* the external is garbage; its finalizer frees p */
    return num(env, rc);
  }
  return ext;
}

static struct poll *arg_poll(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &p) != napi_ok) {
    type_error(env, "handle must be a handle from pollStart");
    return NULL;
  }
  return p;
}

/* pollStop(handle) -> 0; idempotent. The close completes on a later loop
 * turn, but the handle stops counting for process liveness at once. */
static napi_value js_pollStop(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct poll *p = arg_poll(env, argv[0]);
  if (p == NULL) return NULL;
  poll_close(p);
  return num(env, 0);
}

/* pollModify(handle, events) -> 0 | -errno: change what an active poll
 * watches (uv_poll_start on a started handle just updates the events). */
static napi_value js_pollModify(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct poll *p = arg_poll(env, argv[0]);
  if (p == NULL) return NULL;
  ARG_INT(1, events, "events must be a number");
  events &= UV_READABLE | UV_WRITABLE;
  if (events == 0) return num(env, -EINVAL);
  if (p->closing) return num(env, -EBADF);
  return num(env, uv_poll_start(&p->h, events, poll_on_event));
}

/* pollUnref / pollRef: whether the poll keeps the process alive. No-ops
 * once stopped. */
static napi_value js_pollUnref(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct poll *p = arg_poll(env, argv[0]);
  if (p == NULL) return NULL;
  if (!p->closing) uv_unref((uv_handle_t *)&p->h);
  return num(env, 0);
}

static napi_value js_pollRef(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct poll *p = arg_poll(env, argv[0]);
  if (p == NULL) return NULL;
  if (!p->closing) uv_ref((uv_handle_t *)&p->h);
  return num(env, 0);
}

/* ---- module ------------------------------------------------------------- */

static napi_value init(napi_env env, napi_value exports) {
#define FN(name) { #name, NULL, js_##name, NULL, NULL, NULL, napi_enumerable, NULL }
  static const napi_property_descriptor props[] = {
    FN(socketDgram), FN(socketStream), FN(bind), FN(connect), FN(listen),
    FN(getsockname), FN(recvmsg), FN(sendmsg), FN(socketpair), FN(pipe),
    FN(close), FN(setNonBlocking), FN(setCloexec), FN(setPassCred),
    FN(peerCred), FN(fdFlags), FN(pollStart), FN(pollStop), FN(pollUnref),
    FN(pollRef), FN(accept), FN(pollModify), FN(setSendBuffer), FN(shutdown),
    FN(read), FN(clockGettime), FN(mkfifo), FN(recv), FN(sockInfo), FN(pollNow),
    FN(epollCreate), FN(epollCtl), FN(epollWait),
  };
#undef FN
  NAPI(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
