/* midibuffer.buffer._shared: the C core of shared_midi_buffer(), a lock-free
 * single-producer/single-consumer MIDI ring in POSIX shared memory, so that the
 * two ends can live in two processes.
 *
 * docs/design.md ("The shared ring") holds the reasoning; in short:
 *
 * - The segment is a header (each side's words on cache lines of their own),
 *   `slot_count` fixed slots (a power of two, at least the capacity) and a
 *   SysEx area. A message of up to 8 bytes travels inside its slot; a longer
 *   one (SysEx) in the SysEx area, contiguous, the slot holding its position.
 * - `write` (messages sent) and `sysex_write` are stored by the producer only,
 *   `read` (messages popped) and `sysex_read` by the consumer only, with C11
 *   release stores after the data they publish or free, and acquire loads
 *   before the data they guard. Each side keeps its own counters in local
 *   memory and only publishes them: it never trusts what the segment says
 *   about them.
 * - The segment is untrusted input. The geometry is copied at attach time and
 *   checked against the mapping's size; every index and length read from the
 *   segment is bounds-checked before use, and every message is validated
 *   (status byte, length, data bytes, SysEx end, finite time) on a private
 *   copy before it becomes a MidiMessage. A scribbled segment gives
 *   MidiBufferError or None, never a crash or an invalid message.
 * - Liveness: each end object runs a small native thread (no GIL, no Python)
 *   that writes a heartbeat every HEARTBEAT_NS into its side's line and
 *   watches the other side's. A closed flag, or a heartbeat silent for
 *   STALE_NS whose process no longer exists (kill(pid, 0) fails, or it is a
 *   zombie), latches "the peer is gone" in this process's ring object. The
 *   hot paths only read that latch: no system call.
 * - Ownership: each side's line holds the token of the one end object that
 *   may use it. Attaching an end in another process (unpickling it, or using
 *   it in a forked child) writes a new token; the old object then raises
 *   EndpointInUseError. The hot paths compare one word.
 * - The name in /dev/shm is unlinked as soon as no attach can still need it,
 *   and by any process that sees its peer gone, so none outlives its users.
 */
#include "_core.h"

#include <structmember.h> /* PyMemberDef, T_OBJECT_EX: where MidiMessage keeps its slots */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x3146554249444D4DULL /* "MMIDIBUF1", little-endian-ish marker */
#define LAYOUT_VERSION 1u
#define LINE 64
#define INLINE_BYTES 8
#define SYSEX_AREA (1u << 17)          /* 128 KiB: room for two maximal SysEx messages */
#define MAX_SHARED_CAPACITY (1u << 20) /* as MAX_CAPACITY */
#define HEARTBEAT_NS 5000000ULL        /* 5 ms */
#define STALE_NS 20000000ULL           /* 20 ms without a heartbeat: ask whether the peer lives */
#define PRODUCER 0
#define CONSUMER 1

/* Across processes, only lock-free atomics order anything. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the shared ring needs lock-free 64- and 32-bit atomics");

/* ------------------------------------------------------------ The segment */

typedef struct {
    uint32_t length; /* bytes of the message, 1..max_sysex */
    uint32_t flags;  /* bit 0: it has a time */
    double time;
    union {
        uint8_t bytes[INLINE_BYTES]; /* length <= INLINE_BYTES */
        uint64_t position;           /* else: where it starts in the SysEx stream */
    } data;
} Slot;

typedef struct {
    _Atomic uint64_t owner;     /* the token of the end object that may use this side */
    _Atomic uint64_t heartbeat; /* CLOCK_MONOTONIC nanoseconds, written by its thread */
    _Atomic uint32_t pid;       /* the process of that end object */
    _Atomic uint32_t closed;    /* its end was closed or collected */
    _Atomic uint32_t moved;     /* it was attached outside the creating process */
    char pad[LINE - 28];
} Side;

typedef struct {
    /* Written once by the creator, before anyone else can map it. */
    uint64_t magic;
    uint32_t version;
    uint32_t capacity;
    uint32_t slot_count;
    uint32_t sysex_size;
    uint64_t size;
    char pad0[LINE - 32];
    /* Stored by the producer only. */
    _Atomic uint64_t write;       /* messages sent */
    _Atomic uint64_t sysex_write; /* SysEx stream position after the last one sent */
    _Atomic uint64_t dropped;
    _Atomic uint64_t peak_fill;
    char pad1[LINE - 32];
    /* Stored by the consumer only. */
    _Atomic uint64_t read;       /* messages popped */
    _Atomic uint64_t sysex_read; /* SysEx stream position freed */
    char pad2[LINE - 16];
    Side side[2];
    /* Who may still need the name: original ends alive in the creating
     * process, and moves (pickles) not yet attached. */
    _Atomic int32_t originals;
    _Atomic int32_t pending;
    char pad3[LINE - 8];
} Header;

#define SLOTS(header) ((Slot *)((char *)(header) + sizeof(Header)))

static uint64_t
segment_size(uint32_t slot_count)
{
    return sizeof(Header) + (uint64_t)slot_count * sizeof(Slot) + SYSEX_AREA;
}

static uint64_t
now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* the vDSO on Linux: no system call */
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

/* One module instance's state (one per interpreter that imports it): what it
 * imported from midibuffer, and what it derived from that. */
typedef struct {
    CoreImports core;
    PyTypeObject *ring_type; /* SharedRing, which attach() makes */
    PyObject *endpoint_in_use_error;
    PyObject *midibuffer_error;
    Py_ssize_t data_offset; /* where MidiMessage keeps _data */
    Py_ssize_t time_offset; /* where MidiMessage keeps _time */
    int lengths[256];       /* status byte -> message length; 0 variable (SysEx); -1 undefined */
    uint32_t max_sysex;
} State;

/* The only process-global state: what a fork does concerns every interpreter.
 * Bumped in a forked child: an end object made before the fork is inherited. */
static _Atomic uint64_t fork_generation;
/* Bumped in the parent at each fork: an end may live on in a child. */
static _Atomic uint64_t forks_made;

static void
after_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void
after_fork_in_parent(void)
{
    atomic_fetch_add(&forks_made, 1);
}

/* ------------------------------------------------------------ SharedRing */

typedef struct {
    PyObject_HEAD
    const State *state; /* the module's, alive as long as the ring's type */
    Header *header;
    uint64_t size;
    uint32_t capacity;   /* local copies of the geometry: never re-read */
    uint32_t slot_mask;
    uint32_t sysex_mask;
    int attach_kind;     /* -1: this process created it; else the side attached here */
    unsigned moves;      /* ends of this object pickled away (_move) */
    uint64_t generation; /* fork_generation when mapped: a forked child's copy unlinks nothing */
    char name[64];
    _Atomic int unlinked;
    _Atomic int gone[2]; /* latched by a watcher: that side closed or died */
} SharedRing;

static void
ring_unlink(SharedRing *ring)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&ring->unlinked, &expected, 1)) {
        shm_unlink(ring->name); /* ENOENT: another process did it */
    }
}

/* The geometry comes from the caller's checked copy, never from the segment. */
static PyObject *
ring_alloc(const State *state, const char *name, Header *header, uint64_t size, uint32_t capacity,
           uint32_t slot_count, int attach_kind)
{
    SharedRing *ring = PyObject_New(SharedRing, state->ring_type);
    if (ring == NULL) {
        munmap(header, size);
        return NULL;
    }
    ring->state = state;
    ring->header = header;
    ring->size = size;
    ring->capacity = capacity;
    ring->slot_mask = slot_count - 1;
    ring->sysex_mask = SYSEX_AREA - 1;
    ring->generation = atomic_load(&fork_generation);
    ring->attach_kind = attach_kind;
    ring->moves = 0;
    snprintf(ring->name, sizeof(ring->name), "%s", name);
    atomic_init(&ring->unlinked, 0);
    atomic_init(&ring->gone[PRODUCER], 0);
    atomic_init(&ring->gone[CONSUMER], 0);
    return (PyObject *)ring;
}

static PyObject *
ring_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Py_ssize_t capacity;
    static char *keywords[] = {"capacity", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:SharedRing", keywords, &capacity)) {
        return NULL;
    }
    if (capacity < 1 || capacity > MAX_SHARED_CAPACITY) {
        PyErr_Format(PyExc_ValueError, "capacity must be between 1 and %u, got %zd",
                     MAX_SHARED_CAPACITY, capacity);
        return NULL;
    }
    uint32_t slot_count = 1;
    while (slot_count < (uint32_t)capacity) {
        slot_count <<= 1;
    }
    uint64_t size = segment_size(slot_count);
    unsigned char random[12];
    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    char name[64];
    int used = snprintf(name, sizeof(name), "/midibuffer-%ld-", (long)getpid());
    for (size_t i = 0; i < sizeof(random); i++) {
        used += snprintf(name + used, sizeof(name) - (size_t)used, "%02x", random[i]);
    }
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        close(fd);
        shm_unlink(name);
        return NULL;
    }
    Header *header = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (header == MAP_FAILED) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        shm_unlink(name);
        return NULL;
    }
    /* ftruncate gave zeroed memory: only the constants and the counts remain. */
    header->magic = MAGIC;
    header->version = LAYOUT_VERSION;
    header->capacity = (uint32_t)capacity;
    header->slot_count = slot_count;
    header->sysex_size = SYSEX_AREA;
    header->size = size;
    atomic_store(&header->originals, 2);
    PyObject *ring = ring_alloc(PyType_GetModuleState(type), name, header, size,
                                (uint32_t)capacity, slot_count, -1); /* SharedRing has no subclass */
    if (ring == NULL) {
        shm_unlink(name);
    }
    return ring;
}

static void
ring_dealloc(SharedRing *self)
{
    /* The last end here is gone. If none of them was sent to another
     * process, no attach can come that needs the name, whatever the
     * (untrusted) counts in the segment say. */
    if (self->moves == 0 && self->generation == atomic_load(&fork_generation)) {
        ring_unlink(self);
    }
    if (self->header != NULL) {
        munmap(self->header, self->size);
    }
    free_instance((PyObject *)self);
}

static PyObject *
in_use_error(const State *state, const char *what)
{
    PyErr_Format(state->endpoint_in_use_error, "%s", what);
    return NULL;
}

/* attach(name, kind): map an existing segment in this process, for one side. */
static PyObject *
shared_attach(PyObject *module, PyObject *args)
{
    const char *name;
    int kind;
    if (!PyArg_ParseTuple(args, "si:attach", &name, &kind)) {
        return NULL;
    }
    const State *state = PyModule_GetState(module);
    if ((kind != PRODUCER && kind != CONSUMER) || strlen(name) >= 64 || name[0] != '/') {
        PyErr_SetString(PyExc_ValueError, "not a shared midibuffer end");
        return NULL;
    }
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) {
        if (errno == ENOENT) {
            PyErr_Format(state->midibuffer_error,
                         "the shared buffer %s no longer exists: its other end is gone, or "
                         "this end was already attached in a process",
                         name);
            return NULL;
        }
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        close(fd);
        return NULL;
    }
    uint64_t size = (uint64_t)info.st_size;
    if (size < sizeof(Header) || size > segment_size(2 * MAX_SHARED_CAPACITY)) {
        close(fd);
        PyErr_Format(state->midibuffer_error, "%s is not a shared midibuffer (its size)", name);
        return NULL;
    }
    Header *header = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (header == MAP_FAILED) {
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
    }
    uint32_t capacity = header->capacity, slot_count = header->slot_count;
    if (header->magic != MAGIC || header->version != LAYOUT_VERSION || capacity < 1 ||
        capacity > MAX_SHARED_CAPACITY || slot_count < capacity || slot_count > 2 * capacity ||
        (slot_count & (slot_count - 1)) != 0 || header->sysex_size != SYSEX_AREA ||
        header->size != size || segment_size(slot_count) != size) {
        munmap(header, size);
        PyErr_Format(state->midibuffer_error, "%s is not a shared midibuffer of this version", name);
        return NULL;
    }
    return ring_alloc(state, name, header, size, capacity, slot_count, kind);
}

#define RING_GETTER(name, value)                                     \
    static PyObject *ring_get_##name(SharedRing *self, void *Py_UNUSED(closure)) \
    {                                                                 \
        Header *h = self->header;                                     \
        (void)h;                                                      \
        return (value);                                               \
    }

RING_GETTER(capacity, PyLong_FromUnsignedLong(self->capacity))
RING_GETTER(sent, PyLong_FromUnsignedLongLong(atomic_load(&h->write)))
RING_GETTER(popped, PyLong_FromUnsignedLongLong(atomic_load(&h->read)))
RING_GETTER(dropped, PyLong_FromUnsignedLongLong(atomic_load_explicit(&h->dropped,
                                                                      memory_order_relaxed)))
static PyObject *
ring_get_peak_fill(SharedRing *self, void *Py_UNUSED(closure))
{
    uint64_t peak = atomic_load_explicit(&self->header->peak_fill, memory_order_relaxed);
    return PyLong_FromUnsignedLongLong(peak > self->capacity ? self->capacity : peak);
}
RING_GETTER(producer_gone, PyBool_FromLong(atomic_load(&self->gone[PRODUCER]) ||
                                           atomic_load(&h->side[PRODUCER].closed)))
RING_GETTER(consumer_gone, PyBool_FromLong(atomic_load(&self->gone[CONSUMER]) ||
                                           atomic_load(&h->side[CONSUMER].closed)))
RING_GETTER(empty, PyBool_FromLong(atomic_load(&h->read) == atomic_load(&h->write)))
RING_GETTER(name, PyUnicode_FromString(self->name))

static PyGetSetDef ring_getset[] = {
    {"capacity", (getter)ring_get_capacity, NULL, "The exact number of messages it holds.", NULL},
    {"sent", (getter)ring_get_sent, NULL, "Messages sent so far.", NULL},
    {"popped", (getter)ring_get_popped, NULL, "Messages popped so far.", NULL},
    {"dropped", (getter)ring_get_dropped, NULL, "try_send calls that returned False.", NULL},
    {"peak_fill", (getter)ring_get_peak_fill, NULL, "Highest fill seen after a send.", NULL},
    {"producer_gone", (getter)ring_get_producer_gone, NULL, "The producer closed or died.", NULL},
    {"consumer_gone", (getter)ring_get_consumer_gone, NULL, "The consumer closed or died.", NULL},
    {"empty", (getter)ring_get_empty, NULL, "No message is waiting.", NULL},
    {"name", (getter)ring_get_name, NULL, "The segment's name in /dev/shm.", NULL},
    {0},
};

/* unlink(): remove the name now (a pickled end that will never attach). */
static PyObject *
ring_unlink_method(SharedRing *self, PyObject *Py_UNUSED(unused))
{
    ring_unlink(self);
    Py_RETURN_NONE;
}

static PyMethodDef ring_methods[] = {
    {"unlink", (PyCFunction)ring_unlink_method, METH_NOARGS,
     "Remove the segment's name from /dev/shm now: no end can attach any more. "
     "The mappings stay valid."},
    {0},
};

static PyType_Slot ring_slots[] = {
    {Py_tp_doc, "SharedRing(capacity)\n--\n\nA shared-memory segment both ends map."},
    {Py_tp_new, ring_new},
    {Py_tp_dealloc, ring_dealloc},
    {Py_tp_methods, ring_methods},
    {Py_tp_getset, ring_getset},
    {0, NULL},
};

static PyType_Spec ring_spec = {
    .name = "midibuffer.buffer._shared.SharedRing",
    .basicsize = sizeof(SharedRing),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ring_slots,
};

/* ------------------------------------------------------------- The ends */

typedef struct {
    PyObject_HEAD
    SharedRing *ring;
    int kind;
    int closed;
    uint64_t token;
    uint64_t generation;     /* fork_generation when this process took the side */
    int original;            /* counted in the segment's `originals` */
    /* The heartbeat thread. */
    pthread_t thread;
    int thread_started;
    uint64_t thread_generation;
    _Atomic int stop;
    /* The side's own counters (never read back from the segment). */
    uint64_t count;  /* producer: write; consumer: read */
    uint64_t sysex;  /* producer: sysex_write; consumer: sysex_read */
    PyObject *peeked; /* consumer: decoded by _peek, still in the ring */
    uint64_t peeked_sysex_end;
    int moving;       /* _move() was called: the side is on its way to another process */
    int taken;        /* take_side succeeded: release_side has something to give up */
    uint64_t forks_at_take; /* forks_made when this process took the side */
} SharedEnd;

/* Is the process *pid* gone? Only ever asked by the heartbeat thread. */
static int
process_gone(uint32_t pid)
{
    if (pid == 0) {
        return 0;
    }
    if (kill((pid_t)pid, 0) != 0) {
        return errno == ESRCH;
    }
    char path[64], state = 0;
    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0; /* no /proc here: a live pid is taken as alive */
    }
    /* "pid (comm) S ...": the state follows the last ')'. */
    char buffer[512];
    size_t got = fread(buffer, 1, sizeof(buffer) - 1, file);
    fclose(file);
    buffer[got] = 0;
    char *close_paren = strrchr(buffer, ')');
    if (close_paren != NULL && close_paren[1] == ' ') {
        state = close_paren[2];
    }
    return state == 'Z' || state == 'X';
}

static void *
heartbeat(void *argument)
{
    SharedEnd *end = argument;
    SharedRing *ring = end->ring;
    Header *h = ring->header;
    Side *mine = &h->side[end->kind], *peer = &h->side[1 - end->kind];
    int other = 1 - end->kind;
    while (!atomic_load(&end->stop)) {
        if (atomic_load(&mine->owner) != end->token) {
            break; /* attached in another process: its thread beats now */
        }
        uint64_t now = now_ns();
        atomic_store(&mine->heartbeat, now);
        if (!atomic_load(&ring->gone[other])) {
            uint64_t beat = atomic_load(&peer->heartbeat);
            int gone = atomic_load(&peer->closed) != 0;
            if (!gone && beat != 0 && now > beat + STALE_NS) {
                /* Silent: dead, or only starved? Ask the system, at most every 5 ms. */
                gone = process_gone(atomic_load(&peer->pid));
            }
            if (gone) {
                atomic_store(&ring->gone[other], 1);
                if (atomic_load(&h->pending) <= 0) { /* else a pickled end still needs it */
                    ring_unlink(ring);
                }
            }
        }
        struct timespec pause = {0, (long)HEARTBEAT_NS};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static int
start_heartbeat(SharedEnd *self)
{
    atomic_store(&self->stop, 0);
    sigset_t all, previous; /* the thread takes no signal: Python's handlers run in the main thread */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    int error = pthread_create(&self->thread, NULL, heartbeat, self);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (error != 0) {
        errno = error;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->thread_started = 1;
    self->thread_generation = atomic_load(&fork_generation);
    return 0;
}

static void
stop_heartbeat(SharedEnd *self)
{
    if (self->thread_started && self->thread_generation == atomic_load(&fork_generation)) {
        atomic_store(&self->stop, 1);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
    }
    self->thread_started = 0;
}

static uint64_t
new_token(void)
{
    uint64_t token = 0;
    while (token == 0) {
        if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token)) {
            token = now_ns() ^ ((uint64_t)getpid() << 32);
        }
    }
    return token;
}

/* The name is needed while an original end may still be moved, or a move
 * is on its way; once neither, nobody can attach any more. */
static void
unlink_if_unneeded(SharedRing *ring)
{
    Header *h = ring->header;
    if (atomic_load(&h->originals) <= 0 && atomic_load(&h->pending) <= 0) {
        ring_unlink(ring);
    }
}

/* Take this side for *self* in this process: a new token, the pid, a first
 * heartbeat, then the token (which retires any older holder), then a thread. */
static int
take_side(SharedEnd *self)
{
    Header *h = self->ring->header;
    Side *side = &h->side[self->kind];
    self->token = new_token();
    self->generation = atomic_load(&fork_generation);
    self->forks_at_take = atomic_load(&forks_made);
    atomic_store(&side->pid, (uint32_t)getpid());
    atomic_store(&side->heartbeat, now_ns());
    atomic_store(&side->owner, self->token); /* from here on, any older holder is retired */
    self->taken = 1;
    return start_heartbeat(self);
}

/* The side's original in the creating process no longer counts: it moved, or
 * it was released there. A compare-and-swap, so that it counts down once. */
static void
mark_moved(SharedEnd *self)
{
    Header *h = self->ring->header;
    unsigned expected = 0;
    if (atomic_compare_exchange_strong(&h->side[self->kind].moved, &expected, 1)) {
        atomic_fetch_sub(&h->originals, 1);
    }
}

/* The side's counters, read once when this process takes it (and checked). */
static int
load_counters(SharedEnd *self)
{
    Header *h = self->ring->header;
    uint64_t write = atomic_load(&h->write), read = atomic_load(&h->read);
    uint64_t sysex_write = atomic_load(&h->sysex_write), sysex_read = atomic_load(&h->sysex_read);
    if (write - read > self->ring->capacity || sysex_write - sysex_read > SYSEX_AREA) {
        PyErr_SetString(self->ring->state->midibuffer_error,
                        "the shared buffer's segment is corrupted");
        return -1;
    }
    self->count = self->kind == PRODUCER ? write : read;
    self->sysex = self->kind == PRODUCER ? sysex_write : sysex_read;
    return 0;
}

/* Is *value* a SharedRing (of any interpreter's instance of this module)? It
 * cannot be subclassed, and only its type deallocates with ring_dealloc. */
static int
is_ring(PyObject *value)
{
    return Py_TYPE(value)->tp_dealloc == (destructor)ring_dealloc;
}

static PyObject *
end_new(PyTypeObject *type, PyObject *args, PyObject *kwds, int kind)
{
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) || PyTuple_GET_SIZE(args) != 1 ||
        !is_ring(PyTuple_GET_ITEM(args, 0))) {
        PyErr_Format(PyExc_TypeError,
                     "%s cannot be created directly: use shared_midi_buffer(capacity)",
                     type->tp_name);
        return NULL;
    }
    SharedRing *ring = (SharedRing *)PyTuple_GET_ITEM(args, 0);
    Header *h = ring->header;
    int original = ring->attach_kind < 0;
    if (original ? atomic_load(&h->side[kind].owner) != 0 : ring->attach_kind != kind) {
        PyErr_SetString(PyExc_TypeError, "this shared ring has no such end to make");
        return NULL;
    }
    SharedEnd *self = (SharedEnd *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(ring);
    self->ring = ring;
    self->kind = kind;
    self->original = original;
    atomic_init(&self->stop, 0);
    if (take_side(self) < 0 || load_counters(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (!original) {
        mark_moved(self);
        atomic_fetch_sub(&h->pending, 1);
        unlink_if_unneeded(ring);
    }
    return (PyObject *)self;
}

static PyObject *
producer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return end_new(type, args, kwds, PRODUCER);
}

static PyObject *
consumer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return end_new(type, args, kwds, CONSUMER);
}

/* Give the side up in this process: closed (for good), or only let go of. */
static void
release_side(SharedEnd *self, int close_it)
{
    SharedRing *ring = self->ring;
    Header *h = ring->header;
    stop_heartbeat(self);
    if (self->taken && atomic_load(&h->side[self->kind].owner) == self->token &&
        self->generation == atomic_load(&fork_generation)) {
        /* A pickled end closes in its new process; after a fork, a child may
         * still use an end that is only dropped (not closed) here. */
        int shared_elsewhere = self->moving || (close_it == 1 &&
                               atomic_load(&forks_made) != self->forks_at_take);
        if (close_it && !shared_elsewhere) {
            atomic_store(&h->side[self->kind].closed, 1);
        }
        if (self->original) {
            self->original = 0;
            mark_moved(self);
        }
        if ((atomic_load(&h->side[1 - self->kind].closed) ||
             atomic_load(&ring->gone[1 - self->kind])) &&
            atomic_load(&h->pending) <= 0) {
            ring_unlink(ring); /* the last user of the segment, and no attach to come */
        }
        unlink_if_unneeded(ring);
    }
}

static void
end_dealloc(SharedEnd *self)
{
    PyObject_GC_UnTrack(self);
    if (self->ring != NULL) {
        release_side(self, 1); /* 1: dropped; 2: close() */
    }
    Py_CLEAR(self->peeked);
    Py_CLEAR(self->ring);
    free_instance((PyObject *)self);
}

static int
end_traverse(SharedEnd *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->ring);
    Py_VISIT(self->peeked);
    return 0;
}

static PyObject *
closed_error(SharedEnd *self)
{
    return raise_closed(&self->ring->state->core, (PyObject *)self);
}

/* Used after a fork: this process inherited the end; it takes the side now. */
static int
adopt_after_fork(SharedEnd *self)
{
    Side *side = &self->ring->header->side[self->kind];
    self->thread_started = 0; /* the parent's thread did not come along */
    if (self->closed || atomic_load(&side->closed)) {
        closed_error(self);
        return -1;
    }
    if (self->moving || atomic_load(&side->owner) != self->token) {
        in_use_error(self->ring->state,
                     "this end was attached in another process, which owns it now");
        return -1;
    }
    Py_CLEAR(self->peeked);
    if (take_side(self) < 0 || load_counters(self) < 0) {
        return -1;
    }
    mark_moved(self);
    self->original = 0;
    return 0;
}

/* The checks every operation starts with: 0 if it may go on. */
static inline int
usable(SharedEnd *self)
{
    if (self->generation != atomic_load_explicit(&fork_generation, memory_order_relaxed) &&
        adopt_after_fork(self) < 0) {
        return -1;
    }
    if (self->closed) {
        closed_error(self);
        return -1;
    }
    if (self->moving || atomic_load_explicit(&self->ring->header->side[self->kind].owner,
                                             memory_order_relaxed) != self->token) {
        in_use_error(self->ring->state,
                     "this end was attached in another process, which owns it now: "
                     "one process per end");
        return -1;
    }
    return 0;
}

static PyObject *
end_get_ring(SharedEnd *self, void *Py_UNUSED(closure))
{
    return Py_NewRef((PyObject *)self->ring);
}

static PyObject *
end_get_closed(SharedEnd *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->closed);
}

static PyGetSetDef end_getset[] = {
    {"_ring", (getter)end_get_ring, NULL, "The SharedRing.", NULL},
    {"_closed", (getter)end_get_closed, NULL, "close() was called.", NULL},
    {0},
};

static PyObject *
end_close(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    if (!self->closed) {
        self->closed = 1;
        release_side(self, 2);
    }
    Py_RETURN_NONE;
}

/* _move(): this end is being pickled to another process: (name, kind). */
static PyObject *
end_move(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    if (usable(self) < 0) {
        return NULL;
    }
    PyObject *move = Py_BuildValue("(si)", self->ring->name, self->kind);
    if (move != NULL) {
        atomic_fetch_add(&self->ring->header->pending, 1);
        self->moving = 1; /* retired here at once: usable() refuses it from now on */
        self->ring->moves += 1;
    }
    return move;
}

/* ------------------------------------------------------------ Producer */

static PyObject *
producer_try_send(SharedEnd *self, PyObject *message)
{
    SharedRing *ring = self->ring;
    const State *state = ring->state;
    if (!PyObject_TypeCheck(message, state->core.message_type)) {
        return raise_not_a_message(&state->core, message);
    }
    if (usable(self) < 0) {
        return NULL;
    }
    Header *h = ring->header;
    uint64_t write = self->count;
    uint64_t read = atomic_load_explicit(&h->read, memory_order_acquire);
    if (read > write || write - read > ring->capacity) {
        PyErr_SetString(state->midibuffer_error,
                        "the shared buffer's segment is corrupted (read index)");
        return NULL;
    }
    PyObject *data = *(PyObject **)((char *)message + state->data_offset);
    PyObject *time = *(PyObject **)((char *)message + state->time_offset);
    /* A MidiMessage made without its constructor (object.__new__) has empty
     * slots: refuse it rather than read them. */
    if (data == NULL || !PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) < 1 ||
        PyBytes_GET_SIZE(data) > (Py_ssize_t)state->max_sysex || time == NULL ||
        (time != Py_None && !PyFloat_CheckExact(time))) {
        PyErr_SetString(PyExc_TypeError, "this MidiMessage was not made by its constructor");
        return NULL;
    }
    Py_ssize_t length = PyBytes_GET_SIZE(data);
    if (write - read >= ring->capacity || atomic_load(&ring->gone[CONSUMER]) ||
        atomic_load(&h->side[CONSUMER].closed)) {
        goto drop;
    }
    Slot slot;
    memset(&slot, 0, sizeof(slot));
    slot.length = (uint32_t)length;
    if (time != Py_None) {
        slot.flags = 1;
        slot.time = PyFloat_AS_DOUBLE(time);
    }
    uint64_t sysex = self->sysex;
    if (length <= INLINE_BYTES) {
        memcpy(slot.data.bytes, PyBytes_AS_STRING(data), (size_t)length);
    }
    else {
        uint64_t freed = atomic_load_explicit(&h->sysex_read, memory_order_acquire);
        if (freed > sysex || sysex - freed > SYSEX_AREA) {
            PyErr_SetString(state->midibuffer_error,
                            "the shared buffer's segment is corrupted (SysEx index)");
            return NULL;
        }
        uint64_t start = sysex, at = sysex & ring->sysex_mask;
        if (at + (uint64_t)length > SYSEX_AREA) {
            start += SYSEX_AREA - at; /* it must be contiguous: skip the tail */
        }
        if (start + (uint64_t)length - freed > SYSEX_AREA) {
            goto drop; /* no room in the SysEx area now */
        }
        char *area = (char *)h + sizeof(Header) + (size_t)(ring->slot_mask + 1) * sizeof(Slot);
        memcpy(area + (start & ring->sysex_mask), PyBytes_AS_STRING(data), (size_t)length);
        slot.data.position = start;
        sysex = start + (uint64_t)length;
        self->sysex = sysex;
        atomic_store_explicit(&h->sysex_write, sysex, memory_order_release);
    }
    SLOTS(h)[write & ring->slot_mask] = slot;
    self->count = write + 1;
    atomic_store_explicit(&h->write, write + 1, memory_order_release); /* publish */
    uint64_t fill = write + 1 - atomic_load_explicit(&h->read, memory_order_acquire);
    if (fill <= ring->capacity && fill > atomic_load_explicit(&h->peak_fill, memory_order_relaxed)) {
        atomic_store_explicit(&h->peak_fill, fill, memory_order_relaxed);
    }
    Py_RETURN_TRUE;
drop:
    atomic_store_explicit(&h->dropped, atomic_load_explicit(&h->dropped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    Py_RETURN_FALSE;
}

static PyObject *
producer_is_full(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    if (usable(self) < 0) {
        return NULL;
    }
    Header *h = self->ring->header;
    uint64_t read = atomic_load_explicit(&h->read, memory_order_acquire);
    return PyBool_FromLong(self->count - read >= self->ring->capacity ||
                           atomic_load(&self->ring->gone[CONSUMER]) ||
                           atomic_load(&h->side[CONSUMER].closed));
}

/* ------------------------------------------------------------ Consumer */

static int
valid_message(const State *state, const uint8_t *bytes, uint32_t length)
{
    int expected = state->lengths[bytes[0]];
    uint32_t end = length;
    if (expected < 0) {
        return 0;
    }
    if (expected == 0) {
        if (length < 2 || length > state->max_sysex || bytes[length - 1] != 0xF7) {
            return 0;
        }
        end = length - 1;
    }
    else if (length != (uint32_t)expected) {
        return 0;
    }
    for (uint32_t i = 1; i < end; i++) {
        if (bytes[i] & 0x80) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
corrupted(const State *state, const char *what)
{
    PyErr_Format(state->midibuffer_error, "the shared buffer's segment is corrupted (%s)", what);
    return NULL;
}

/* Decode the oldest message into a new MidiMessage without popping it; set
 * *sysex_end to where its SysEx bytes end (or the current sysex_read).
 * NULL with no error: empty. NULL with an error: corrupted (*skip set when
 * the slot itself is bad and should be skipped). */
static PyObject *
decode(SharedEnd *self, uint64_t *sysex_end, int *skip)
{
    SharedRing *ring = self->ring;
    const State *state = ring->state;
    Header *h = ring->header;
    uint64_t read = self->count;
    uint64_t write = atomic_load_explicit(&h->write, memory_order_acquire);
    *skip = 0;
    *sysex_end = self->sysex;
    if (write == read) {
        return NULL;
    }
    if (write - read > ring->capacity) {
        return corrupted(state, "write index");
    }
    /* One private copy, read once (volatile: the compiler may not read the
     * shared slot again later), and only that copy is checked and used. */
    const volatile Slot *shared = &SLOTS(h)[read & ring->slot_mask];
    Slot slot;
    slot.length = shared->length;
    slot.flags = shared->flags;
    slot.time = shared->time;
    if (slot.length <= INLINE_BYTES) {
        for (int i = 0; i < INLINE_BYTES; i++) {
            slot.data.bytes[i] = shared->data.bytes[i];
        }
    }
    else {
        slot.data.position = shared->data.position;
    }
    *skip = 1;
    if (slot.length == 0 || slot.length > state->max_sysex) {
        return corrupted(state, "message length");
    }
    if (slot.flags & ~1u || ((slot.flags & 1u) && !isfinite(slot.time))) {
        return corrupted(state, "message time");
    }
    PyObject *data;
    if (slot.length <= INLINE_BYTES) {
        data = PyBytes_FromStringAndSize((const char *)slot.data.bytes, slot.length);
    }
    else {
        uint64_t start = slot.data.position, freed = self->sysex;
        uint64_t written = atomic_load_explicit(&h->sysex_write, memory_order_acquire);
        if (start < freed || start - freed > SYSEX_AREA || written < start + slot.length ||
            written - freed > SYSEX_AREA || (start & ring->sysex_mask) + slot.length > SYSEX_AREA) {
            return corrupted(state, "SysEx position");
        }
        const char *area =
            (const char *)h + sizeof(Header) + (size_t)(ring->slot_mask + 1) * sizeof(Slot);
        data = PyBytes_FromStringAndSize(area + (start & ring->sysex_mask), slot.length);
        *sysex_end = start + slot.length;
    }
    if (data == NULL) {
        *skip = 0;
        return NULL;
    }
    if (!valid_message(state, (const uint8_t *)PyBytes_AS_STRING(data), slot.length)) {
        Py_DECREF(data);
        return corrupted(state, "not a valid MIDI message");
    }
    PyObject *time = Py_None;
    if (slot.flags & 1u) {
        time = PyFloat_FromDouble(slot.time);
        if (time == NULL) {
            Py_DECREF(data);
            *skip = 0;
            return NULL;
        }
    }
    else {
        Py_INCREF(time);
    }
    PyTypeObject *message_type = state->core.message_type;
    PyObject *message = message_type->tp_alloc(message_type, 0);
    if (message == NULL) {
        Py_DECREF(data);
        Py_DECREF(time);
        *skip = 0;
        return NULL;
    }
    *(PyObject **)((char *)message + state->data_offset) = data; /* the references move in */
    *(PyObject **)((char *)message + state->time_offset) = time;
    *skip = 0;
    return message;
}

static void
advance(SharedEnd *self, uint64_t sysex_end)
{
    Header *h = self->ring->header;
    if (sysex_end != self->sysex) {
        self->sysex = sysex_end;
        atomic_store_explicit(&h->sysex_read, sysex_end, memory_order_release);
    }
    self->count += 1;
    atomic_store_explicit(&h->read, self->count, memory_order_release); /* free the slot */
}

static PyObject *
consumer_take(SharedEnd *self, int pop)
{
    if (usable(self) < 0) {
        return NULL;
    }
    if (self->peeked != NULL) {
        PyObject *message = self->peeked;
        if (!pop) {
            return Py_NewRef(message);
        }
        self->peeked = NULL;
        advance(self, self->peeked_sysex_end);
        return message;
    }
    uint64_t sysex_end;
    int skip;
    PyObject *message = decode(self, &sysex_end, &skip);
    if (message == NULL) {
        if (skip) {
            advance(self, self->sysex); /* drop the bad slot, so the stream goes on */
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (pop) {
        advance(self, sysex_end);
    }
    else { /* keep it decoded, and in the ring, until try_pop */
        self->peeked = Py_NewRef(message);
        self->peeked_sysex_end = sysex_end;
    }
    return message;
}

static PyObject *
consumer_try_pop(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    return consumer_take(self, 1);
}

static PyObject *
consumer_peek(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    return consumer_take(self, 0);
}

static PyObject *
consumer_is_empty(SharedEnd *self, PyObject *Py_UNUSED(unused))
{
    if (usable(self) < 0) {
        return NULL;
    }
    return PyBool_FromLong(self->peeked == NULL &&
                           atomic_load_explicit(&self->ring->header->write,
                                                memory_order_acquire) == self->count);
}

/* --------------------------------------------------------------- Types */

PyDoc_STRVAR(try_send_doc,
"try_send($self, message, /)\n--\n\n"
"Copy *message* into the shared buffer if there is room; return whether it was sent.\n\n"
"Never blocks. Owning thread only. A full buffer (capacity messages, or no\n"
"room in the SysEx area for a long SysEx) or a gone consumer drops it and\n"
"counts it.\n\n"
"Raises:\n"
"    TypeError: *message* is not a MidiMessage.\n"
"    ClosedEndpointError: this producer was closed.\n"
"    EndpointInUseError: this end was attached in another process.\n"
"    MidiBufferError: the shared segment was corrupted.");

PyDoc_STRVAR(is_full_doc,
"is_full($self, /)\n--\n\n"
"Return ``True`` if a ``try_send`` now would drop. Owning thread only.");

PyDoc_STRVAR(try_pop_doc,
"try_pop($self, /)\n--\n\n"
"Remove and return the oldest message, or ``None`` if the buffer is empty.\n\n"
"Never blocks, takes no lock, makes no system call. Unlike the in-process\n"
"buffer it builds the MidiMessage from the shared bytes (three small\n"
"objects); an empty poll creates nothing. Owning thread only.\n\n"
"Raises:\n"
"    ClosedEndpointError: this consumer was closed.\n"
"    EndpointInUseError: this end was attached in another process.\n"
"    MidiBufferError: the shared segment was corrupted (a bad message is\n"
"        skipped; the next call goes on with the one after it).");

PyDoc_STRVAR(is_empty_doc,
"is_empty($self, /)\n--\n\n"
"Return ``True`` if ``try_pop`` now would return ``None``. Owning thread only.");

static PyMethodDef producer_methods[] = {
    {"try_send", (PyCFunction)producer_try_send, METH_O, try_send_doc},
    {"is_full", (PyCFunction)producer_is_full, METH_NOARGS, is_full_doc},
    {"_close", (PyCFunction)end_close, METH_NOARGS, "Mark this end closed; close() calls it."},
    {"_move", (PyCFunction)end_move, METH_NOARGS, "(name, kind) for pickling to a process."},
    {0},
};

static PyMethodDef consumer_methods[] = {
    {"try_pop", (PyCFunction)consumer_try_pop, METH_NOARGS, try_pop_doc},
    {"is_empty", (PyCFunction)consumer_is_empty, METH_NOARGS, is_empty_doc},
    {"_peek", (PyCFunction)consumer_peek, METH_NOARGS,
     "The oldest message, left in the buffer, or None; drain_into uses it."},
    {"_close", (PyCFunction)end_close, METH_NOARGS, "Mark this end closed; close() calls it."},
    {"_move", (PyCFunction)end_move, METH_NOARGS, "(name, kind) for pickling to a process."},
    {0},
};

static PyType_Slot producer_slots[] = {
    {Py_tp_doc, "ProducerCore(ring, /)\n--\n\nThe hot paths of SharedMidiBufferProducer."},
    {Py_tp_new, producer_new},
    {Py_tp_dealloc, end_dealloc},
    {Py_tp_traverse, end_traverse},
    {Py_tp_methods, producer_methods},
    {Py_tp_getset, end_getset},
    {0, NULL},
};

static PyType_Spec producer_spec = {
    .name = "midibuffer.buffer._shared.ProducerCore",
    .basicsize = sizeof(SharedEnd),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = producer_slots,
};

static PyType_Slot consumer_slots[] = {
    {Py_tp_doc, "ConsumerCore(ring, /)\n--\n\nThe hot paths of SharedMidiBufferConsumer."},
    {Py_tp_new, consumer_new},
    {Py_tp_dealloc, end_dealloc},
    {Py_tp_traverse, end_traverse},
    {Py_tp_methods, consumer_methods},
    {Py_tp_getset, end_getset},
    {0, NULL},
};

static PyType_Spec consumer_spec = {
    .name = "midibuffer.buffer._shared.ConsumerCore",
    .basicsize = sizeof(SharedEnd),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = consumer_slots,
};

/* -------------------------------------------------------------- Module */

static PyMethodDef module_methods[] = {
    {"attach", shared_attach, METH_VARARGS,
     "attach(name, kind, /)\n--\n\nMap the shared segment *name* here, for side *kind*."},
    {0},
};

/* Where MidiMessage's slot *name* lives in its objects. */
static Py_ssize_t
slot_offset(PyTypeObject *type, const char *name)
{
    PyObject *descriptor = PyDict_GetItemString(type->tp_dict, name); /* borrowed */
    if (descriptor == NULL || !PyObject_TypeCheck(descriptor, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "MidiMessage has no slot %s", name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "MidiMessage's slot %s is not an object slot", name);
        return -1;
    }
    return member->offset;
}

/* The status byte table, from the one specification (midibuffer.data.spec). */
static int
load_lengths(State *state)
{
    PyObject *specs = import_attribute("midibuffer.data.spec", "SPECS");
    PyObject *maximum = specs == NULL ? NULL : import_attribute("midibuffer.data.spec",
                                                                "MAX_SYSEX_BYTES");
    int result = -1;
    if (specs == NULL || maximum == NULL) {
        goto done;
    }
    if (!PyDict_Check(specs)) {
        PyErr_SetString(PyExc_TypeError, "midibuffer.data.spec.SPECS is not a dict");
        goto done;
    }
    for (int status = 0; status < 256; status++) {
        state->lengths[status] = -1;
    }
    PyObject *key, *spec;
    Py_ssize_t position = 0;
    while (PyDict_Next(specs, &position, &key, &spec)) {
        long status = PyLong_AsLong(key);
        PyObject *length = PyObject_GetAttrString(spec, "length");
        if (length == NULL) {
            goto done;
        }
        long value = PyLong_AsLong(length);
        Py_DECREF(length);
        if (status < 0x80 || status > 0xFF || value < 0 || value > 3) {
            PyErr_SetString(PyExc_ValueError, "unexpected MIDI specification table");
            goto done;
        }
        state->lengths[status] = (int)value;
    }
    long limit = PyLong_AsLong(maximum);
    if (limit < 2 || limit > (long)SYSEX_AREA / 2) {
        PyErr_SetString(PyExc_ValueError, "MAX_SYSEX_BYTES does not fit the SysEx area");
        goto done;
    }
    state->max_sysex = (uint32_t)limit;
    result = 0;
done:
    Py_XDECREF(specs);
    Py_XDECREF(maximum);
    return result;
}

static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;

static void
register_fork_handlers(void)
{
    pthread_atfork(NULL, after_fork_in_parent, after_fork_in_child);
}

static int
shared_module_exec(PyObject *module)
{
    State *state = PyModule_GetState(module);
    if (core_imports_load(&state->core) < 0) {
        return -1;
    }
    state->data_offset = slot_offset(state->core.message_type, "_data");
    state->time_offset = slot_offset(state->core.message_type, "_time");
    if (state->data_offset < 0 || state->time_offset < 0 || load_lengths(state) < 0) {
        return -1;
    }
    state->endpoint_in_use_error = import_attribute("midibuffer.errors", "EndpointInUseError");
    if (state->endpoint_in_use_error == NULL) {
        return -1;
    }
    state->midibuffer_error = import_attribute("midibuffer.errors", "MidiBufferError");
    if (state->midibuffer_error == NULL) {
        return -1;
    }
    state->ring_type = add_type(module, &ring_spec);
    if (state->ring_type == NULL) {
        return -1;
    }
    PyType_Spec *const ends[] = {&producer_spec, &consumer_spec, NULL};
    if (add_types(module, ends) < 0 ||
        PyModule_AddIntConstant(module, "PRODUCER", PRODUCER) < 0 ||
        PyModule_AddIntConstant(module, "CONSUMER", CONSUMER) < 0) {
        return -1;
    }
    pthread_once(&fork_handlers_once, register_fork_handlers);
    return 0;
}

static int
shared_module_traverse(PyObject *module, visitproc visit, void *arg)
{
    State *state = PyModule_GetState(module);
    Py_VISIT(state->ring_type);
    Py_VISIT(state->endpoint_in_use_error);
    Py_VISIT(state->midibuffer_error);
    return core_imports_traverse(&state->core, visit, arg);
}

static int
shared_module_clear(PyObject *module)
{
    State *state = PyModule_GetState(module);
    Py_CLEAR(state->ring_type);
    Py_CLEAR(state->endpoint_in_use_error);
    Py_CLEAR(state->midibuffer_error);
    core_imports_clear(&state->core);
    return 0;
}

static void
shared_module_free(void *module)
{
    shared_module_clear(module);
}

static PyModuleDef_Slot shared_module_slots[] = {
    {Py_mod_exec, shared_module_exec},
#ifdef Py_mod_multiple_interpreters
    /* Per-interpreter state only: tested in an isolated subinterpreter (tests/test_build.py). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    /* No Py_mod_gil slot: free-threaded CPython is untested (docs/support.md), so
     * importing this there re-enables the GIL. */
    {0, NULL},
};

static struct PyModuleDef shared_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "midibuffer.buffer._shared",
    .m_doc = "The C core of shared_midi_buffer(); see midibuffer.buffer.shared and "
             "docs/design.md.",
    .m_size = sizeof(State),
    .m_methods = module_methods,
    .m_slots = shared_module_slots,
    .m_traverse = shared_module_traverse,
    .m_clear = shared_module_clear,
    .m_free = shared_module_free,
};

PyMODINIT_FUNC
PyInit__shared(void)
{
    return PyModuleDef_Init(&shared_module);
}
