/*
 * wan-relay: a user-space WAN link between two TUN devices.
 *
 * The relay creates two TUN devices (IFF_TUN | IFF_NO_PI, so every read/write is one
 * IP packet), prints "READY <tunA> <tunB>" on stdout and forwards packets between
 * them, one thread per direction:
 *
 *   read from TUN in  ->  random loss (seeded PRNG)  ->  bottleneck queue (bandwidth cap,
 *   tail drop past the queue limit)  ->  propagation delay  ->  write to TUN out
 *
 * Link model per direction, with `now` the time the packet was read:
 *   tx_start  = max(now, link_free)          (waits behind the packets already queued)
 *   link_free = tx_start + len * 8 / bw      (serialisation at the capped rate)
 *   release   = link_free + delay            (one-way propagation delay)
 * A packet is tail-dropped when the bytes still waiting for the bottleneck,
 * (link_free - now) * bw, plus its own length exceed the queue limit. Packets are
 * released in order (release times are monotonic per direction), so one FIFO suffices.
 *
 * The devices are usually moved into network namespaces by the caller after READY
 * (`ip link set <tun> netns <ns>`): the open file descriptors keep working.
 *
 * Stats: SIGUSR1 prints one line "STATS {json}" on stdout; SIGTERM/SIGINT/SIGHUP print
 * a final "STATS {json}" and exit (closing the fds removes the TUN devices).
 * The relay also exits when its parent dies (PR_SET_PDEATHSIG).
 *
 * Build: cc -O2 -pthread -o wan-relay relay.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT 2048      /* TUN MTU is 1500; anything longer is truncated and dropped */
#define HDR_SIZE 16       /* record header in the ring */
#define READ_BATCH 64     /* packets read per wakeup before releasing due packets */
#define WRITE_BATCH 64    /* packets released per loop before reading again */

typedef struct {
  double delay_ms;
  double loss;
  double bw_mbit;        /* 0 = no cap */
  int64_t queue_bytes;   /* bottleneck queue limit; <= 0 = automatic */
  double queue_factor;   /* automatic limit = factor * bw * RTT (RTT = 2 * delay) */
} link_cfg;

typedef struct {
  atomic_uint_fast64_t rx_pkts, rx_bytes, fwd_pkts, fwd_bytes, loss_drops, queue_drops,
      overflow_drops, write_errors, late_sum_ns, late_max_ns, queue_max_bytes, idle_ns, write_ns;
} link_stats;

typedef struct {
  const char *name;
  int in_fd, out_fd;
  link_cfg cfg;
  uint64_t rng;
  /* derived */
  uint64_t delay_ns;
  uint64_t ps_per_byte;   /* 0 = no cap */
  uint64_t qlimit_bytes;  /* 0 = unlimited (no cap) */
  /* ring of records: [u64 release_ns][u32 len][u32 pad] data..., 16-byte aligned */
  uint8_t *ring;
  uint64_t cap, head, tail; /* head/tail are byte counters, physical = x % cap */
  uint64_t link_free_ps;
  link_stats st;
} link_t;

static int g_rt = 0;
static uint64_t g_coalesce_ns = 100000; /* --coalesce-us */
static uint64_t g_t0;
static link_t g_links[2];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - g_t0;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double rand01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

static void die(const char *msg) {
  fprintf(stderr, "wan-relay: %s: %s\n", msg, strerror(errno));
  exit(1);
}

static int tun_open(const char *name, char *actual) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("O_NONBLOCK");
  strcpy(actual, ifr.ifr_name);
  return fd;
}

static void atomic_max(atomic_uint_fast64_t *a, uint64_t v) {
  uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                          memory_order_relaxed)) {
  }
}

#define ADD(field, v) atomic_fetch_add_explicit(&l->st.field, (v), memory_order_relaxed)

static void link_init(link_t *l) {
  l->delay_ns = (uint64_t)(l->cfg.delay_ms * 1e6 + 0.5);
  double bps = l->cfg.bw_mbit * 1e6;
  l->ps_per_byte = bps > 0 ? (uint64_t)(8e12 / bps + 0.5) : 0;
  double rtt_s = 2.0 * l->cfg.delay_ms / 1e3;
  if (bps > 0) {
    if (l->cfg.queue_bytes > 0) {
      l->qlimit_bytes = (uint64_t)l->cfg.queue_bytes;
    } else {
      /* factor x BDP of the round trip, never below 100 full-size packets */
      double q = l->cfg.queue_factor * bps / 8.0 * rtt_s;
      if (q < 100 * 1500) q = 100 * 1500;
      l->qlimit_bytes = (uint64_t)q;
    }
  } else {
    l->qlimit_bytes = 0;
  }
  /* The ring holds the bottleneck queue plus everything "on the wire" (bw x delay).
   * Records carry a 16-byte header and 16-byte alignment, so small packets cost up to
   * ~2x their size: size the ring 2x + headroom. Without a cap assume <= 4 Gbit/s in. */
  double wire_bps = bps > 0 ? bps : 4e9;
  double need = 2.0 * ((double)l->qlimit_bytes + wire_bps / 8.0 * l->cfg.delay_ms / 1e3) +
                8.0 * 1024 * 1024;
  if (need > 2048.0 * 1024 * 1024) need = 2048.0 * 1024 * 1024;
  l->cap = ((uint64_t)need + 4095) & ~4095ull;
  l->ring = malloc(l->cap);
  if (!l->ring) die("malloc ring");
  l->head = l->tail = 0;
  l->link_free_ps = 0;
}

/* Pointer where the next record may be written, or NULL when the ring is full.
 * Wraps the tail (with a marker) when the record would cross the end of the buffer. */
static uint8_t *ring_reserve(link_t *l) {
  const uint64_t need = HDR_SIZE + MAX_PKT;
  uint64_t phys = l->tail % l->cap;
  if (phys + need > l->cap) {
    uint64_t pad = l->cap - phys;
    if (l->cap - (l->tail - l->head) < pad + need) return NULL;
    if (pad >= HDR_SIZE) {
      uint32_t marker = UINT32_MAX;
      memcpy(l->ring + phys + 8, &marker, 4);
    }
    l->tail += pad;
    phys = 0;
  }
  if (l->cap - (l->tail - l->head) < need) return NULL;
  return l->ring + phys;
}

static void ring_commit(link_t *l, uint8_t *rec, uint64_t release, uint32_t len) {
  memcpy(rec, &release, 8);
  memcpy(rec + 8, &len, 4);
  l->tail += (HDR_SIZE + len + 15) & ~15ull;
}

/* Head record (skipping a wrap marker), or NULL when empty. */
static uint8_t *ring_head(link_t *l) {
  for (;;) {
    if (l->head == l->tail) return NULL;
    uint64_t phys = l->head % l->cap;
    if (l->cap - phys < HDR_SIZE) { l->head += l->cap - phys; continue; }
    uint32_t len;
    memcpy(&len, l->ring + phys + 8, 4);
    if (len == UINT32_MAX) { l->head += l->cap - phys; continue; }
    return l->ring + phys;
  }
}

static void on_packet(link_t *l, uint8_t *rec, uint32_t len, uint64_t now) {
  ADD(rx_pkts, 1);
  ADD(rx_bytes, len);
  if (l->cfg.loss > 0 && rand01(&l->rng) < l->cfg.loss) { ADD(loss_drops, 1); return; }
  uint64_t release;
  if (l->ps_per_byte) {
    uint64_t now_ps = now * 1000;
    uint64_t backlog_ps = l->link_free_ps > now_ps ? l->link_free_ps - now_ps : 0;
    if (l->link_free_ps && now_ps > l->link_free_ps) ADD(idle_ns, (now_ps - l->link_free_ps) / 1000);
    uint64_t backlog_bytes = backlog_ps / l->ps_per_byte;
    if (backlog_bytes + len > l->qlimit_bytes) { ADD(queue_drops, 1); return; }
    atomic_max(&l->st.queue_max_bytes, backlog_bytes + len);
    uint64_t start = l->link_free_ps > now_ps ? l->link_free_ps : now_ps;
    l->link_free_ps = start + (uint64_t)len * l->ps_per_byte;
    release = l->link_free_ps / 1000 + l->delay_ns;
  } else {
    release = now + l->delay_ns;
  }
  ring_commit(l, rec, release, len);
}

static void *link_thread(void *arg) {
  link_t *l = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (g_rt) {
    struct sched_param sp = {.sched_priority = 10};
    int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (e) fprintf(stderr, "wan-relay: SCHED_FIFO unavailable (%s), continuing\n", strerror(e));
  }
  struct pollfd pfd = {.fd = l->in_fd, .events = POLLIN};
  for (;;) {
    /* 1. take in what has arrived */
    for (int i = 0; i < READ_BATCH; i++) {
      uint8_t *rec = ring_reserve(l);
      if (!rec) {
        /* ring full: read and discard one packet so the device does not stall */
        static __thread uint8_t junk[MAX_PKT];
        ssize_t n = read(l->in_fd, junk, sizeof junk);
        if (n <= 0) break;
        ADD(rx_pkts, 1);
        ADD(rx_bytes, (uint64_t)n);
        ADD(overflow_drops, 1);
        continue;
      }
      ssize_t n = read(l->in_fd, rec + HDR_SIZE, MAX_PKT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EBADFD || errno == EIO) { usleep(1000); break; }
        die("read tun");
      }
      if (n == 0) break;
      on_packet(l, rec, (uint32_t)n, now_ns());
    }
    /* 2. release what is due, at most WRITE_BATCH packets before reading again: a write
     * runs the receiving stack synchronously (several us), and an unbounded loop at a
     * high packet rate would starve the input side */
    uint8_t *rec = NULL;
    for (int i = 0; i < WRITE_BATCH; i++) {
      rec = ring_head(l);
      if (!rec) break;
      uint64_t release;
      uint32_t len;
      memcpy(&release, rec, 8);
      memcpy(&len, rec + 8, 4);
      uint64_t now = now_ns();
      if (release > now) break;
      ssize_t w = write(l->out_fd, rec + HDR_SIZE, len);
      ADD(write_ns, now_ns() - now);
      if (w < 0) {
        ADD(write_errors, 1);
      } else {
        ADD(fwd_pkts, 1);
        ADD(fwd_bytes, len);
        uint64_t late = now - release;
        ADD(late_sum_ns, late);
        atomic_max(&l->st.late_max_ns, late);
      }
      l->head += (HDR_SIZE + len + 15) & ~15ull;
      rec = NULL;
    }
    if (!rec) rec = ring_head(l);
    /* 3. sleep until input arrives or the head packet is due. Wakeups are coalesced to
     * at least g_coalesce_ns apart: one timer wakeup per packet (every 30 us at 400
     * Mbit/s) costs more CPU than the forwarding itself, and batching the writes also
     * batches the receiver's wakeups. Release times are late by at most that much. */
    struct timespec ts, *tsp = NULL;
    if (rec) {
      uint64_t now = now_ns();
      uint64_t release;
      memcpy(&release, rec, 8);
      uint64_t wait = release > now ? release - now : 0;
      if (wait > 0 && wait < g_coalesce_ns) wait = g_coalesce_ns;
      ts.tv_sec = (time_t)(wait / 1000000000ull);
      ts.tv_nsec = (long)(wait % 1000000000ull);
      tsp = &ts;
    }
    int r = ppoll(&pfd, 1, tsp, NULL);
    if (r < 0 && errno != EINTR) die("ppoll");
  }
  return NULL;
}

static void print_link(FILE *f, link_t *l) {
  link_stats *s = &l->st;
#define G(x) (unsigned long long)atomic_load_explicit(&s->x, memory_order_relaxed)
  unsigned long long fwd = G(fwd_pkts);
  fprintf(f,
          "{\"rxPackets\":%llu,\"rxBytes\":%llu,\"forwardedPackets\":%llu,\"forwardedBytes\":%llu,"
          "\"lossDrops\":%llu,\"queueDrops\":%llu,\"overflowDrops\":%llu,\"writeErrors\":%llu,"
          "\"lateAvgUs\":%.1f,\"lateMaxUs\":%.1f,\"queueMaxBytes\":%llu,\"queueLimitBytes\":%llu,"
          "\"ringBytes\":%llu,\"idleMs\":%.3f,\"writeAvgUs\":%.2f}",
          G(rx_pkts), G(rx_bytes), fwd, G(fwd_bytes), G(loss_drops), G(queue_drops),
          G(overflow_drops), G(write_errors), fwd ? (double)G(late_sum_ns) / fwd / 1e3 : 0.0,
          (double)G(late_max_ns) / 1e3, G(queue_max_bytes), (unsigned long long)l->qlimit_bytes,
          (unsigned long long)l->cap, (double)G(idle_ns) / 1e6,
          fwd ? (double)G(write_ns) / fwd / 1e3 : 0.0);
#undef G
}

static void print_stats(void) {
  fputs("STATS {\"ab\":", stdout);
  print_link(stdout, &g_links[0]);
  fputs(",\"ba\":", stdout);
  print_link(stdout, &g_links[1]);
  fputs("}\n", stdout);
  fflush(stdout);
}

static void usage(void) {
  fputs(
      "usage: wan-relay --tun-a NAME --tun-b NAME [options]\n"
      "  link options (both directions):  --delay-ms MS --loss P --bw-mbit MBIT\n"
      "                                   --queue-bytes N --queue-factor F\n"
      "  B->A overrides:                  --ba-delay-ms --ba-loss --ba-bw-mbit\n"
      "                                   --ba-queue-bytes --ba-queue-factor\n"
      "  --seed N   PRNG seed for loss (default 1)\n"
      "  --coalesce-us US  min gap between timer wakeups (default 100): release jitter bound\n"
      "  --rt       run the forwarding threads SCHED_FIFO\n",
      stderr);
  exit(2);
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) return 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  g_t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;

  const char *tun_a = NULL, *tun_b = NULL;
  uint64_t seed = 1;
  link_cfg ab = {.delay_ms = 0, .loss = 0, .bw_mbit = 0, .queue_bytes = 0, .queue_factor = 1.0};
  link_cfg ba;
  int ba_set[5] = {0};
  double ba_v[5] = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--rt")) { g_rt = 1; continue; }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--tun-a")) tun_a = v;
    else if (!strcmp(a, "--tun-b")) tun_b = v;
    else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 0);
    else if (!strcmp(a, "--coalesce-us")) g_coalesce_ns = (uint64_t)(atof(v) * 1000);
    else if (!strcmp(a, "--delay-ms")) ab.delay_ms = atof(v);
    else if (!strcmp(a, "--loss")) ab.loss = atof(v);
    else if (!strcmp(a, "--bw-mbit")) ab.bw_mbit = atof(v);
    else if (!strcmp(a, "--queue-bytes")) ab.queue_bytes = atoll(v);
    else if (!strcmp(a, "--queue-factor")) ab.queue_factor = atof(v);
    else if (!strcmp(a, "--ba-delay-ms")) { ba_set[0] = 1; ba_v[0] = atof(v); }
    else if (!strcmp(a, "--ba-loss")) { ba_set[1] = 1; ba_v[1] = atof(v); }
    else if (!strcmp(a, "--ba-bw-mbit")) { ba_set[2] = 1; ba_v[2] = atof(v); }
    else if (!strcmp(a, "--ba-queue-bytes")) { ba_set[3] = 1; ba_v[3] = atof(v); }
    else if (!strcmp(a, "--ba-queue-factor")) { ba_set[4] = 1; ba_v[4] = atof(v); }
    else usage();
  }
  if (!tun_a || !tun_b) usage();
  ba = ab;
  if (ba_set[0]) ba.delay_ms = ba_v[0];
  if (ba_set[1]) ba.loss = ba_v[1];
  if (ba_set[2]) ba.bw_mbit = ba_v[2];
  if (ba_set[3]) ba.queue_bytes = (int64_t)ba_v[3];
  if (ba_set[4]) ba.queue_factor = ba_v[4];
  link_cfg cfgs[2] = {ab, ba};
  for (int d = 0; d < 2; d++) {
    link_cfg *c = &cfgs[d];
    if (c->delay_ms < 0 || c->delay_ms > 10000 || c->loss < 0 || c->loss > 1 || c->bw_mbit < 0 ||
        c->queue_factor <= 0) {
      fprintf(stderr, "wan-relay: invalid link parameters\n");
      return 2;
    }
  }

  char name_a[IFNAMSIZ], name_b[IFNAMSIZ];
  int fd_a = tun_open(tun_a, name_a);
  int fd_b = tun_open(tun_b, name_b);

  g_links[0] = (link_t){.name = "ab", .in_fd = fd_a, .out_fd = fd_b, .cfg = ab};
  g_links[1] = (link_t){.name = "ba", .in_fd = fd_b, .out_fd = fd_a, .cfg = ba};
  g_links[0].rng = seed ^ 0x5851f42d4c957f2dull;
  g_links[1].rng = seed ^ 0x14057b7ef767814full;
  for (int d = 0; d < 2; d++) link_init(&g_links[d]);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGUSR1);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  pthread_t th[2];
  for (int d = 0; d < 2; d++)
    if (pthread_create(&th[d], NULL, link_thread, &g_links[d])) die("pthread_create");

  printf("READY %s %s\n", name_a, name_b);
  printf("CONFIG {\"ab\":{\"delayMs\":%g,\"loss\":%g,\"bandwidthMbit\":%g,\"queueLimitBytes\":%llu},"
         "\"ba\":{\"delayMs\":%g,\"loss\":%g,\"bandwidthMbit\":%g,\"queueLimitBytes\":%llu}}\n",
         ab.delay_ms, ab.loss, ab.bw_mbit, (unsigned long long)g_links[0].qlimit_bytes, ba.delay_ms,
         ba.loss, ba.bw_mbit, (unsigned long long)g_links[1].qlimit_bytes);
  fflush(stdout);

  for (;;) {
    int sig;
    if (sigwait(&sigs, &sig)) continue;
    if (sig == SIGUSR1) { print_stats(); continue; }
    if (sig == SIGPIPE) continue;
    print_stats();
    _exit(0);
  }
}
