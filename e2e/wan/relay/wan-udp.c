/*
 * wan-udp: paced UDP blaster and sink for measuring the emulated link's raw capacity.
 * A Node sender/receiver costs ~a core each at 30k+ packets/s, which on a 2-core machine
 * starves the relay; this uses sendmmsg/recvmmsg and absolute-time pacing instead.
 *
 *   wan-udp send HOST PORT MBIT SECONDS SIZE   -> {"sentPackets":..,"sentBytes":..,"elapsedMs":..,"errors":..}
 *   wan-udp recv HOST PORT SECONDS IDLE_MS      -> prints READY, then
 *        {"packets":..,"bytes":..,"firstMs":..,"lastMs":..,"firstBytes":..,"maxSeq":..,"steadyMbit":..}
 *        (steadyMbit: IP-level rate over the second half of the receive span)
 *
 * MBIT counts UDP payload + 28 bytes of IP/UDP header per datagram (what the relay caps).
 * Each datagram starts with a 64-bit big-endian sequence number.
 * The receiver stops IDLE_MS after the last datagram, or after SECONDS in all.
 * With WAN_UDP_RT=1 in the environment it runs SCHED_FIFO (priority 5): on a loaded
 * 2-core machine a CFS sender opens gaps in the blast and a CFS receiver overflows its buffer.
 *
 * Build: cc -O2 -o wan-udp wan-udp.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXSZ 65507

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *m) {
  fprintf(stderr, "wan-udp: %s: %s\n", m, strerror(errno));
  exit(1);
}

static struct sockaddr_in addr_of(const char *host, const char *port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)atoi(port));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "wan-udp: bad address %s\n", host);
    exit(2);
  }
  return sa;
}

static int do_send(const char *host, const char *port, double mbit, double seconds, int size) {
  if (size < 8 || size > MAXSZ) { fprintf(stderr, "wan-udp: bad size\n"); return 2; }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int sb = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
  struct sockaddr_in sa = addr_of(host, port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
  static uint8_t bufs[BATCH][MAXSZ];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    memset(bufs[i], 0x33, (size_t)size);
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = (size_t)size;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const double pkt_per_ms = mbit * 1e6 / 8.0 / (size + 28) / 1e3;
  uint64_t sent = 0, errors = 0;
  const double t0 = now_ms();
  for (;;) {
    double el = now_ms() - t0;
    if (el >= seconds * 1e3) break;
    uint64_t due = (uint64_t)(el * pkt_per_ms);
    while (sent < due) {
      int n = (int)(due - sent > BATCH ? BATCH : due - sent);
      for (int i = 0; i < n; i++) {
        uint64_t seq = sent + (uint64_t)i;
        for (int b = 0; b < 8; b++) bufs[i][b] = (uint8_t)(seq >> (56 - 8 * b));
      }
      int r = sendmmsg(fd, msgs, (unsigned)n, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        /* ENOBUFS/EAGAIN: the local queue is full, count the batch as sent-and-lost */
        errors++;
        r = n;
      }
      sent += (uint64_t)r;
    }
    /* sleep until the next packet is due, at most 1 ms */
    double next = (double)(sent + 1) / pkt_per_ms - (now_ms() - t0);
    if (next > 1.0) next = 1.0;
    if (next > 0.02) {
      struct timespec ts = {0, (long)(next * 1e6)};
      nanosleep(&ts, NULL);
    }
  }
  printf("{\"sentPackets\":%llu,\"sentBytes\":%llu,\"elapsedMs\":%.3f,\"errors\":%llu}\n",
         (unsigned long long)sent, (unsigned long long)sent * (unsigned)size, now_ms() - t0,
         (unsigned long long)errors);
  return 0;
}

static int do_recv(const char *host, const char *port, double seconds, double idle_ms) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int rb = 32 << 20;
  /* SO_RCVBUFFORCE (root) goes past net.core.rmem_max, which a namespace cannot change */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  struct sockaddr_in sa = addr_of(host, port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  printf("READY\n");
  fflush(stdout);
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t packets = 0, bytes = 0, first_bytes = 0;
  int64_t max_seq = -1;
  /* IP-level bytes per 10 ms since the first datagram, for the steady-state rate */
  const size_t nb = (size_t)(seconds * 100) + 2;
  uint64_t *bucket = calloc(nb, sizeof *bucket);
  if (!bucket) die("calloc");
  double first = -1, last = -1;
  const double t0 = now_ms();
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  for (;;) {
    double t = now_ms() - t0;
    double left = seconds * 1e3 - t;
    if (first >= 0 && idle_ms - (t - last) < left) left = idle_ms - (t - last);
    if (left <= 0) break;
    int pr = poll(&pfd, 1, (int)(left < 1 ? 1 : left));
    if (pr < 0 && errno != EINTR) die("poll");
    if (pr <= 0) continue;
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      die("recvmmsg");
    }
    double at = now_ms() - t0;
    for (int i = 0; i < n; i++) {
      unsigned len = msgs[i].msg_len;
      if (first < 0) { first = at; first_bytes = len; }
      packets++;
      bytes += len;
      size_t bi = (size_t)((at - first) / 10.0);
      if (bi < nb) bucket[bi] += len + 28;
      if (len >= 8) {
        uint64_t seq = 0;
        for (int b = 0; b < 8; b++) seq = (seq << 8) | bufs[i][b];
        if ((int64_t)seq > max_seq) max_seq = (int64_t)seq;
      }
    }
    last = at;
  }
  /* steady rate: whole 10 ms buckets over the second half of the receive span */
  double steady = 0;
  if (first >= 0 && last - first >= 100) {
    size_t from = (size_t)((last - first) / 20.0), to = (size_t)((last - first) / 10.0);
    uint64_t b = 0;
    for (size_t i = from; i < to && i < nb; i++) b += bucket[i];
    if (to > from) steady = (double)b * 8 / ((double)(to - from) * 0.01) / 1e6;
  }
  printf("{\"packets\":%llu,\"bytes\":%llu,\"firstMs\":%.3f,\"lastMs\":%.3f,\"firstBytes\":%llu,"
         "\"maxSeq\":%lld,\"steadyMbit\":%.3f}\n",
         (unsigned long long)packets, (unsigned long long)bytes, first, last,
         (unsigned long long)first_bytes, (long long)max_seq, steady);
  return 0;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  /* WAN_UDP_RT=1: SCHED_FIFO (below the relay's priority) so that other load on the
   * machine does not open gaps in the blast; the sender sleeps between batches, so it
   * cannot hog a CPU. */
  const char *rt = getenv("WAN_UDP_RT");
  if (rt && *rt == '1') {
    struct sched_param sp = {.sched_priority = 5};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) perror("wan-udp: SCHED_FIFO");
  }
  if (argc == 7 && !strcmp(argv[1], "send"))
    return do_send(argv[2], argv[3], atof(argv[4]), atof(argv[5]), atoi(argv[6]));
  if (argc == 6 && !strcmp(argv[1], "recv"))
    return do_recv(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: wan-udp send HOST PORT MBIT SECONDS SIZE | recv HOST PORT SECONDS IDLE_MS\n");
  return 2;
}
