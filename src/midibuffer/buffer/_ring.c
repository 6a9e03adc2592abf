/* midibuffer.buffer._ring: the C core of midi_buffer(), its hot paths.
 *
 * docs/design.md ("The C core") holds the reasoning; in short:
 *
 * - The ring is an array of PyObject* slots (a power of two, at least the
 *   capacity) and two free-running 64-bit counters: `write` (messages sent)
 *   stored by the producer only, and `read` (messages popped) stored by the
 *   consumer only. A message is in the buffer exactly when its index lies in
 *   [read, write), so the buffer is full when write - read == capacity: the
 *   capacity is exact whatever the slot count.
 * - The producer fills the slot, then publishes it with a release store of
 *   `write`; the consumer acquire-loads `write`, takes the slot's reference,
 *   clears the slot, then frees it with a release store of `read`. Neither
 *   end ever stores the other's counter, so the counters are also the
 *   `sent` and `popped` statistics, exact at any moment.
 * - With the GIL, every method here runs whole while holding it, so the
 *   atomics compile to plain loads and stores in effect; they are what a
 *   free-threaded CPython would need, but that is untested, so the module
 *   does not declare Py_MOD_GIL_NOT_USED (docs/support.md).
 *
 * try_pop and is_empty take no lock, make no system call, call no Python
 * code and allocate nothing: try_pop hands over the slot's own reference.
 *
 * The atomics are C11 <stdatomic.h>. A compiler without it fails to build
 * this optional extension, and midibuffer uses its pure-Python core.
 */
#include "_core.h"

#include <stdatomic.h>
#include <stdint.h>

#define LOAD_ACQUIRE(p) atomic_load_explicit((p), memory_order_acquire)
#define LOAD_RELAXED(p) atomic_load_explicit((p), memory_order_relaxed)
#define STORE_RELEASE(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define STORE_RELAXED(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)

/* ------------------------------------------------------------------ Ring */

typedef struct {
    PyObject_HEAD
    const CoreImports *imports; /* the module's state, alive as long as the ring's type */
    PyObject **slots;
    uint64_t mask; /* slot count - 1 */
    uint64_t capacity;
    /* Stored by the producer only. */
    _Atomic uint64_t write;     /* messages sent */
    _Atomic uint64_t dropped;   /* try_send calls that returned False */
    _Atomic uint64_t peak_fill; /* highest fill seen right after a send */
    _Atomic int producer_gone;  /* closed or deallocated */
    char separate_cache_lines[64];
    /* Stored by the consumer only. */
    _Atomic uint64_t read;     /* messages popped */
    _Atomic int consumer_gone; /* closed or deallocated */
} Ring;

static PyObject *
ring_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Py_ssize_t capacity;
    static char *keywords[] = {"capacity", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:Ring", keywords, &capacity)) {
        return NULL;
    }
    if (capacity < 1 || capacity > ((Py_ssize_t)1 << 30)) {
        PyErr_Format(PyExc_ValueError, "capacity must be between 1 and 2**30, got %zd", capacity);
        return NULL;
    }
    uint64_t slot_count = 1;
    while (slot_count < (uint64_t)capacity) {
        slot_count <<= 1;
    }
    PyObject **slots = PyMem_Calloc((size_t)slot_count, sizeof(PyObject *));
    if (slots == NULL) {
        return PyErr_NoMemory();
    }
    Ring *self = (Ring *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyMem_Free(slots);
        return NULL;
    }
    self->imports = PyType_GetModuleState(type); /* Ring cannot be subclassed */
    self->slots = slots;
    self->mask = slot_count - 1;
    self->capacity = (uint64_t)capacity;
    return (PyObject *)self;
}

/* Drop the references still in the ring, as if they had been popped: each
 * slot is emptied and counted before its message's destructor can run. */
static int
ring_clear(Ring *self)
{
    uint64_t write = LOAD_ACQUIRE(&self->write);
    for (uint64_t index = LOAD_RELAXED(&self->read); index != write; index++) {
        PyObject **slot = &self->slots[index & self->mask];
        PyObject *message = *slot;
        *slot = NULL;
        STORE_RELEASE(&self->read, index + 1);
        Py_XDECREF(message);
    }
    return 0;
}

static int
ring_traverse(Ring *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    uint64_t write = LOAD_ACQUIRE(&self->write);
    for (uint64_t index = LOAD_RELAXED(&self->read); index != write; index++) {
        Py_VISIT(self->slots[index & self->mask]);
    }
    return 0;
}

static void
ring_dealloc(Ring *self)
{
    PyObject_GC_UnTrack(self);
    ring_clear(self);
    PyMem_Free(self->slots);
    free_instance((PyObject *)self);
}

/* A getter of one Ring field; fields another thread stores are loaded atomically. */
#define RING_GETTER(name, value)                               \
    static PyObject *ring_get_##name(Ring *self, void *Py_UNUSED(closure)) \
    {                                                           \
        return (value);                                         \
    }

RING_GETTER(capacity, PyLong_FromUnsignedLongLong(self->capacity))
RING_GETTER(sent, PyLong_FromUnsignedLongLong(LOAD_ACQUIRE(&self->write)))
RING_GETTER(popped, PyLong_FromUnsignedLongLong(LOAD_ACQUIRE(&self->read)))
RING_GETTER(dropped, PyLong_FromUnsignedLongLong(LOAD_RELAXED(&self->dropped)))
RING_GETTER(peak_fill, PyLong_FromUnsignedLongLong(LOAD_RELAXED(&self->peak_fill)))
RING_GETTER(producer_gone, PyBool_FromLong(LOAD_ACQUIRE(&self->producer_gone)))
RING_GETTER(consumer_gone, PyBool_FromLong(LOAD_ACQUIRE(&self->consumer_gone)))
RING_GETTER(empty, PyBool_FromLong(LOAD_ACQUIRE(&self->read) == LOAD_ACQUIRE(&self->write)))

static PyGetSetDef ring_getset[] = {
    {"capacity", (getter)ring_get_capacity, NULL, "The exact number of messages it holds.", NULL},
    {"sent", (getter)ring_get_sent, NULL, "Messages sent so far.", NULL},
    {"popped", (getter)ring_get_popped, NULL, "Messages popped so far.", NULL},
    {"dropped", (getter)ring_get_dropped, NULL, "try_send calls that returned False.", NULL},
    {"peak_fill", (getter)ring_get_peak_fill, NULL, "Highest fill seen after a send.", NULL},
    {"producer_gone", (getter)ring_get_producer_gone, NULL, "The producer closed or died.", NULL},
    {"consumer_gone", (getter)ring_get_consumer_gone, NULL, "The consumer closed or died.", NULL},
    {"empty", (getter)ring_get_empty, NULL, "No message is waiting.", NULL},
    {0},
};

static PyType_Slot ring_slots[] = {
    {Py_tp_doc, "Ring(capacity)\n--\n\nThe state both ends of a midi_buffer share."},
    {Py_tp_new, ring_new},
    {Py_tp_dealloc, ring_dealloc},
    {Py_tp_traverse, ring_traverse},
    {Py_tp_clear, ring_clear},
    {Py_tp_getset, ring_getset},
    {0, NULL},
};

static PyType_Spec ring_spec = {
    .name = "midibuffer.buffer._ring.Ring",
    .basicsize = sizeof(Ring),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = ring_slots,
};

/* ------------------------------------------------- The two endpoint cores */

typedef struct {
    PyObject_HEAD
    Ring *ring;
    _Atomic int closed; /* stored by the owning thread only; read by it, and by repr() */
} Endpoint;

/* Is *value* a Ring (of any interpreter's instance of this module)? Ring
 * cannot be subclassed, and only its type deallocates with ring_dealloc. */
static int
is_ring(PyObject *value)
{
    return Py_TYPE(value)->tp_dealloc == (destructor)ring_dealloc;
}

static PyObject *
endpoint_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) || PyTuple_GET_SIZE(args) != 1 ||
        !is_ring(PyTuple_GET_ITEM(args, 0))) {
        PyErr_Format(PyExc_TypeError, "%s cannot be created directly: use midi_buffer(capacity)",
                     type->tp_name);
        return NULL;
    }
    Ring *ring = (Ring *)PyTuple_GET_ITEM(args, 0);
    Endpoint *self = (Endpoint *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(ring);
    self->ring = ring;
    return (PyObject *)self;
}

static int
endpoint_traverse(Endpoint *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->ring);
    return 0;
}

static PyObject *
closed_error(Endpoint *self)
{
    return raise_closed(self->ring->imports, (PyObject *)self);
}

static PyObject *
endpoint_get_ring(Endpoint *self, void *Py_UNUSED(closure))
{
    Py_INCREF(self->ring);
    return (PyObject *)self->ring;
}

static PyObject *
endpoint_get_closed(Endpoint *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(LOAD_RELAXED(&self->closed));
}

static PyGetSetDef endpoint_getset[] = {
    {"_ring", (getter)endpoint_get_ring, NULL, "The shared Ring.", NULL},
    {"_closed", (getter)endpoint_get_closed, NULL, "close() was called.", NULL},
    {0},
};

/* Producer */

static void
producer_dealloc(Endpoint *self)
{
    PyObject_GC_UnTrack(self);
    STORE_RELEASE(&self->ring->producer_gone, 1);
    Py_CLEAR(self->ring);
    free_instance((PyObject *)self);
}

static PyObject *
producer_try_send(Endpoint *self, PyObject *message)
{
    Ring *ring = self->ring;
    if (!PyObject_TypeCheck(message, ring->imports->message_type)) {
        return raise_not_a_message(ring->imports, message);
    }
    if (LOAD_RELAXED(&self->closed)) {
        return closed_error(self);
    }
    uint64_t write = LOAD_RELAXED(&ring->write);
    if (write - LOAD_ACQUIRE(&ring->read) >= ring->capacity ||
        LOAD_ACQUIRE(&ring->consumer_gone)) {
        STORE_RELAXED(&ring->dropped, LOAD_RELAXED(&ring->dropped) + 1);
        Py_RETURN_FALSE;
    }
    Py_INCREF(message);
    ring->slots[write & ring->mask] = message;
    STORE_RELEASE(&ring->write, write + 1); /* publish */
    /* The fill now: the consumer may have popped since the check above. */
    uint64_t fill = write + 1 - LOAD_ACQUIRE(&ring->read);
    if (fill > LOAD_RELAXED(&ring->peak_fill)) {
        STORE_RELAXED(&ring->peak_fill, fill);
    }
    Py_RETURN_TRUE;
}

static PyObject *
producer_is_full(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    if (LOAD_RELAXED(&self->closed)) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    if (LOAD_RELAXED(&ring->write) - LOAD_ACQUIRE(&ring->read) >= ring->capacity ||
        LOAD_ACQUIRE(&ring->consumer_gone)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *
producer_close(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    STORE_RELAXED(&self->closed, 1);
    STORE_RELEASE(&self->ring->producer_gone, 1);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(try_send_doc,
"try_send($self, message, /)\n--\n\n"
"Append *message* if there is room; never blocks. Owning thread only.\n\n"
"Returns ``True`` if the message is now in the buffer, ``False`` if it\n"
"was dropped because the buffer is full or the consumer is gone\n"
"(closed or garbage collected); every drop is counted in\n"
"``stats().dropped``.\n\n"
"Raises:\n"
"    TypeError: *message* is not a :class:`MidiMessage` (build one with\n"
"        ``MidiMessage(data)``, which validates it). The buffer and\n"
"        its counters are left untouched.\n"
"    ClosedEndpointError: this producer was closed.");

PyDoc_STRVAR(is_full_doc,
"is_full($self, /)\n--\n\n"
"Return ``True`` if a ``try_send`` now would drop. Owning thread only.\n\n"
"That is when the buffer holds ``capacity`` messages, or when the\n"
"consumer is gone. The consumer may make room at any moment, so\n"
"``False`` stays true until this thread sends (or the consumer goes),\n"
"while ``True`` may become stale.\n\n"
"Raises:\n"
"    ClosedEndpointError: this producer was closed.");

static PyMethodDef producer_methods[] = {
    {"try_send", (PyCFunction)producer_try_send, METH_O, try_send_doc},
    {"is_full", (PyCFunction)producer_is_full, METH_NOARGS, is_full_doc},
    {"_close", (PyCFunction)producer_close, METH_NOARGS, "Mark this end closed; close() calls it."},
    {0},
};

static PyType_Slot producer_slots[] = {
    {Py_tp_doc, "ProducerCore(ring, /)\n--\n\nThe hot paths of MidiBufferProducer."},
    {Py_tp_new, endpoint_new},
    {Py_tp_dealloc, producer_dealloc},
    {Py_tp_traverse, endpoint_traverse},
    {Py_tp_methods, producer_methods},
    {Py_tp_getset, endpoint_getset},
    {0, NULL},
};

static PyType_Spec producer_spec = {
    .name = "midibuffer.buffer._ring.ProducerCore",
    .basicsize = sizeof(Endpoint),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = producer_slots,
};

/* Consumer */

static void
consumer_dealloc(Endpoint *self)
{
    PyObject_GC_UnTrack(self);
    STORE_RELEASE(&self->ring->consumer_gone, 1);
    Py_CLEAR(self->ring);
    free_instance((PyObject *)self);
}

static PyObject *
consumer_try_pop(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    if (LOAD_RELAXED(&self->closed)) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    uint64_t read = LOAD_RELAXED(&ring->read);
    if (read == LOAD_ACQUIRE(&ring->write)) {
        Py_RETURN_NONE;
    }
    PyObject **slot = &ring->slots[read & ring->mask];
    PyObject *message = *slot; /* the slot's reference becomes the caller's */
    *slot = NULL;
    STORE_RELEASE(&ring->read, read + 1); /* free the slot */
    return message;
}

static PyObject *
consumer_peek(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    if (LOAD_RELAXED(&self->closed)) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    uint64_t read = LOAD_RELAXED(&ring->read);
    if (read == LOAD_ACQUIRE(&ring->write)) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(ring->slots[read & ring->mask]); /* stays in the slot */
}

static PyObject *
consumer_is_empty(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    if (LOAD_RELAXED(&self->closed)) {
        return closed_error(self);
    }
    if (LOAD_RELAXED(&self->ring->read) == LOAD_ACQUIRE(&self->ring->write)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *
consumer_close(Endpoint *self, PyObject *Py_UNUSED(unused))
{
    STORE_RELAXED(&self->closed, 1);
    STORE_RELEASE(&self->ring->consumer_gone, 1);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(try_pop_doc,
"try_pop($self, /)\n--\n\n"
"Remove and return the oldest message, or ``None`` if the buffer is empty.\n\n"
"Never blocks. Owning thread only. Real-time safe: it moves one\n"
"reference out of a preallocated slot and allocates nothing.\n\n"
"Raises:\n"
"    ClosedEndpointError: this consumer was closed.");

PyDoc_STRVAR(is_empty_doc,
"is_empty($self, /)\n--\n\n"
"Return ``True`` if ``try_pop`` now would return ``None``. Owning thread only.\n\n"
"Real-time safe. The producer may add a message at any moment, so\n"
"``False`` stays true until this thread pops, while ``True`` may\n"
"become stale.\n\n"
"Raises:\n"
"    ClosedEndpointError: this consumer was closed.");

static PyMethodDef consumer_methods[] = {
    {"try_pop", (PyCFunction)consumer_try_pop, METH_NOARGS, try_pop_doc},
    {"is_empty", (PyCFunction)consumer_is_empty, METH_NOARGS, is_empty_doc},
    {"_peek", (PyCFunction)consumer_peek, METH_NOARGS,
     "The oldest message, left in the buffer, or None; drain_into uses it."},
    {"_close", (PyCFunction)consumer_close, METH_NOARGS, "Mark this end closed; close() calls it."},
    {0},
};

static PyType_Slot consumer_slots[] = {
    {Py_tp_doc, "ConsumerCore(ring, /)\n--\n\nThe hot paths of MidiBufferConsumer."},
    {Py_tp_new, endpoint_new},
    {Py_tp_dealloc, consumer_dealloc},
    {Py_tp_traverse, endpoint_traverse},
    {Py_tp_methods, consumer_methods},
    {Py_tp_getset, endpoint_getset},
    {0, NULL},
};

static PyType_Spec consumer_spec = {
    .name = "midibuffer.buffer._ring.ConsumerCore",
    .basicsize = sizeof(Endpoint),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = consumer_slots,
};

/* ---------------------------------------------------------------- Module */

static int
ring_module_exec(PyObject *module)
{
    if (core_imports_load(PyModule_GetState(module)) < 0) {
        return -1;
    }
    PyType_Spec *const specs[] = {&ring_spec, &producer_spec, &consumer_spec, NULL};
    return add_types(module, specs);
}

static int
ring_module_traverse(PyObject *module, visitproc visit, void *arg)
{
    return core_imports_traverse(PyModule_GetState(module), visit, arg);
}

static int
ring_module_clear(PyObject *module)
{
    core_imports_clear(PyModule_GetState(module));
    return 0;
}

static void
ring_module_free(void *module)
{
    ring_module_clear(module);
}

static PyModuleDef_Slot ring_module_slots[] = {
    {Py_mod_exec, ring_module_exec},
#ifdef Py_mod_multiple_interpreters
    /* No process-global state: tested in an isolated subinterpreter (tests/test_build.py). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    /* No Py_mod_gil slot: free-threaded CPython is untested (docs/support.md), so
     * importing this there re-enables the GIL. */
    {0, NULL},
};

static struct PyModuleDef ring_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "midibuffer.buffer._ring",
    .m_doc = "The C core of midi_buffer(); see midibuffer.buffer and docs/design.md.",
    .m_size = sizeof(CoreImports),
    .m_slots = ring_module_slots,
    .m_traverse = ring_module_traverse,
    .m_clear = ring_module_clear,
    .m_free = ring_module_free,
};

PyMODINIT_FUNC
PyInit__ring(void)
{
    return PyModuleDef_Init(&ring_module);
}
