/*
 * cecho: the reference point of the echo scenario. A plain C echo server
 * with one level-triggered epoll loop per thread, a SO_REUSEPORT listener
 * per loop, one read per readiness into a 64 KiB stack buffer and the echo
 * written back at once. Output the socket does not take is kept per
 * connection and flushed on EPOLLOUT, so a slow reader is served
 * correctly. It shows what the kernel costs per message on this machine,
 * with no runtime at all.
 *
 * usage: cecho host port loops
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct pending {
	char *buf;
	size_t len, cap;
};

static struct sockaddr_in addr;

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int listen_on(void) {
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("SO_REUSEPORT");
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
	if (listen(fd, 4096) < 0) die("listen");
	return fd;
}

static void drop(int ep, int fd, struct pending *p) {
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(p[fd].buf);
	memset(&p[fd], 0, sizeof p[fd]);
}

/* keep appends what the socket did not take. */
static void keep(struct pending *q, const char *b, size_t n) {
	if (q->len + n > q->cap) {
		q->cap = (q->len + n) * 2;
		q->buf = realloc(q->buf, q->cap);
		if (!q->buf) die("realloc");
	}
	memcpy(q->buf + q->len, b, n);
	q->len += n;
}

static void *loop(void *arg) {
	int ln = (int)(long)arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev) < 0) die("epoll_ctl");
	enum { maxfd = 1 << 20 };
	struct pending *p = calloc(maxfd, sizeof *p);
	if (!p) die("calloc");
	struct epoll_event evs[256];
	char buf[65536];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR) continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ln) {
				for (;;) {
					int c = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0) break;
					if (c >= maxfd) {
						close(c);
						continue;
					}
					int one = 1;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			struct pending *q = &p[fd];
			if (evs[i].events & EPOLLOUT) {
				ssize_t w = write(fd, q->buf, q->len);
				if (w < 0 && errno != EAGAIN) {
					drop(ep, fd, p);
					continue;
				}
				if (w > 0) {
					memmove(q->buf, q->buf + w, q->len - w);
					q->len -= w;
				}
				if (q->len == 0) {
					struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
				}
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
			ssize_t r = read(fd, buf, sizeof buf);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN) continue;
				drop(ep, fd, p);
				continue;
			}
			if (q->len > 0) { /* behind earlier output: keep the order */
				keep(q, buf, r);
				continue;
			}
			ssize_t w = write(fd, buf, r);
			if (w < 0) {
				if (errno != EAGAIN) {
					drop(ep, fd, p);
					continue;
				}
				w = 0;
			}
			if (w < r) {
				keep(q, buf + w, r - w);
				struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT, .data.fd = fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: cecho host port loops\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	addr.sin_family = AF_INET;
	addr.sin_port = htons(atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "cecho: %s is not an IPv4 address\n", argv[1]);
		return 2;
	}
	int loops = atoi(argv[3]);
	if (loops < 1) loops = 1;
	/* Every listener is bound before any loop runs, so the kernel spreads
	 * the first connections over all of them. */
	int *ln = calloc(loops, sizeof *ln);
	if (!ln) die("calloc");
	for (int i = 0; i < loops; i++) ln[i] = listen_on();
	pthread_t t;
	for (int i = 1; i < loops; i++)
		if (pthread_create(&t, NULL, loop, (void *)(long)ln[i]) != 0) die("pthread_create");
	loop((void *)(long)ln[0]);
	return 0;
}
