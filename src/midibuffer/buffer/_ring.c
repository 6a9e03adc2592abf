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
 *   atomics compile to plain loads and stores in effect; they are what
 *   keeps the ring correct on a free-threaded CPython.
 *
 * try_pop and is_empty take no lock, make no system call, call no Python
 * code and allocate nothing: try_pop hands over the slot's own reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#else
#error "midibuffer.buffer._ring needs GCC or Clang atomics; the pure-Python core is used instead"
#endif

/* Imported from midibuffer at module initialisation. */
static PyObject *message_type;         /* midibuffer.data.message.MidiMessage */
static PyObject *closed_endpoint_error; /* midibuffer.errors.ClosedEndpointError */
static PyObject *not_a_message;        /* midibuffer.errors.not_a_message */

/* ------------------------------------------------------------------ Ring */

typedef struct {
    PyObject_HEAD
    PyObject **slots;
    uint64_t mask; /* slot count - 1 */
    uint64_t capacity;
    /* Stored by the producer only. */
    uint64_t write;     /* messages sent */
    uint64_t dropped;   /* try_send calls that returned False */
    uint64_t peak_fill; /* highest fill seen right after a send */
    int producer_gone;  /* closed or deallocated */
    char separate_cache_lines[64];
    /* Stored by the consumer only. */
    uint64_t read;     /* messages popped */
    int consumer_gone; /* closed or deallocated */
} Ring;

static PyTypeObject RingType;

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
    for (uint64_t index = self->read; index != write; index++) {
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
    uint64_t write = LOAD_ACQUIRE(&self->write);
    for (uint64_t index = self->read; index != write; index++) {
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
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A getter of one Ring field; fields another thread stores are loaded atomically. */
#define RING_GETTER(name, value)                               \
    static PyObject *ring_get_##name(Ring *self, void *closure) \
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
    {NULL},
};

static PyTypeObject RingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "midibuffer.buffer._ring.Ring",
    .tp_doc = "Ring(capacity)\n--\n\nThe state both ends of a midi_buffer share.",
    .tp_basicsize = sizeof(Ring),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = ring_new,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_traverse = (traverseproc)ring_traverse,
    .tp_clear = (inquiry)ring_clear,
    .tp_getset = ring_getset,
};

/* ------------------------------------------------- The two endpoint cores */

typedef struct {
    PyObject_HEAD
    Ring *ring;
    int closed; /* stored by the owning thread only; read by it, and by repr() */
} Endpoint;

static PyObject *
endpoint_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) || PyTuple_GET_SIZE(args) != 1 ||
        !PyObject_TypeCheck(PyTuple_GET_ITEM(args, 0), &RingType)) {
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
    Py_VISIT(self->ring);
    return 0;
}

static PyObject *
closed_error(Endpoint *self)
{
    PyErr_Format(closed_endpoint_error, "this %s was closed", Py_TYPE(self)->tp_name);
    return NULL;
}

static PyObject *
endpoint_get_ring(Endpoint *self, void *closure)
{
    Py_INCREF(self->ring);
    return (PyObject *)self->ring;
}

static PyObject *
endpoint_get_closed(Endpoint *self, void *closure)
{
    return PyBool_FromLong(LOAD_RELAXED(&self->closed));
}

static PyGetSetDef endpoint_getset[] = {
    {"_ring", (getter)endpoint_get_ring, NULL, "The shared Ring.", NULL},
    {"_closed", (getter)endpoint_get_closed, NULL, "close() was called.", NULL},
    {NULL},
};

/* Producer */

static void
producer_dealloc(Endpoint *self)
{
    PyObject_GC_UnTrack(self);
    STORE_RELEASE(&self->ring->producer_gone, 1);
    Py_CLEAR(self->ring);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
producer_try_send(Endpoint *self, PyObject *message)
{
    if (!PyObject_TypeCheck(message, (PyTypeObject *)message_type)) {
        PyObject *error = PyObject_CallOneArg(not_a_message, message);
        if (error != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(error), error);
            Py_DECREF(error);
        }
        return NULL;
    }
    if (self->closed) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    uint64_t write = ring->write;
    if (write - LOAD_ACQUIRE(&ring->read) >= ring->capacity ||
        LOAD_ACQUIRE(&ring->consumer_gone)) {
        STORE_RELAXED(&ring->dropped, ring->dropped + 1);
        Py_RETURN_FALSE;
    }
    Py_INCREF(message);
    ring->slots[write & ring->mask] = message;
    STORE_RELEASE(&ring->write, write + 1); /* publish */
    /* The fill now: the consumer may have popped since the check above. */
    uint64_t fill = write + 1 - LOAD_ACQUIRE(&ring->read);
    if (fill > ring->peak_fill) {
        STORE_RELAXED(&ring->peak_fill, fill);
    }
    Py_RETURN_TRUE;
}

static PyObject *
producer_is_full(Endpoint *self, PyObject *unused)
{
    if (self->closed) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    if (ring->write - LOAD_ACQUIRE(&ring->read) >= ring->capacity ||
        LOAD_ACQUIRE(&ring->consumer_gone)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *
producer_close(Endpoint *self, PyObject *unused)
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
    {NULL},
};

static PyTypeObject ProducerCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "midibuffer.buffer._ring.ProducerCore",
    .tp_doc = "ProducerCore(ring, /)\n--\n\nThe hot paths of MidiBufferProducer.",
    .tp_basicsize = sizeof(Endpoint),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = endpoint_new,
    .tp_dealloc = (destructor)producer_dealloc,
    .tp_traverse = (traverseproc)endpoint_traverse,
    .tp_methods = producer_methods,
    .tp_getset = endpoint_getset,
};

/* Consumer */

static void
consumer_dealloc(Endpoint *self)
{
    PyObject_GC_UnTrack(self);
    STORE_RELEASE(&self->ring->consumer_gone, 1);
    Py_CLEAR(self->ring);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
consumer_try_pop(Endpoint *self, PyObject *unused)
{
    if (self->closed) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    uint64_t read = ring->read;
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
consumer_peek(Endpoint *self, PyObject *unused)
{
    if (self->closed) {
        return closed_error(self);
    }
    Ring *ring = self->ring;
    uint64_t read = ring->read;
    if (read == LOAD_ACQUIRE(&ring->write)) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(ring->slots[read & ring->mask]); /* stays in the slot */
}

static PyObject *
consumer_is_empty(Endpoint *self, PyObject *unused)
{
    if (self->closed) {
        return closed_error(self);
    }
    if (self->ring->read == LOAD_ACQUIRE(&self->ring->write)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *
consumer_close(Endpoint *self, PyObject *unused)
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
    {NULL},
};

static PyTypeObject ConsumerCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "midibuffer.buffer._ring.ConsumerCore",
    .tp_doc = "ConsumerCore(ring, /)\n--\n\nThe hot paths of MidiBufferConsumer.",
    .tp_basicsize = sizeof(Endpoint),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = endpoint_new,
    .tp_dealloc = (destructor)consumer_dealloc,
    .tp_traverse = (traverseproc)endpoint_traverse,
    .tp_methods = consumer_methods,
    .tp_getset = endpoint_getset,
};

/* ---------------------------------------------------------------- Module */

static struct PyModuleDef ring_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "midibuffer.buffer._ring",
    .m_doc = "The C core of midi_buffer(); see midibuffer.buffer and docs/design.md.",
    .m_size = -1,
};

static PyObject *
import_attribute(const char *module_name, const char *name)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, name);
    Py_DECREF(module);
    return value;
}

PyMODINIT_FUNC
PyInit__ring(void)
{
    if (message_type == NULL) {
        PyObject *message = import_attribute("midibuffer.data.message", "MidiMessage");
        if (message == NULL) {
            return NULL;
        }
        if (!PyType_Check(message)) {
            Py_DECREF(message);
            PyErr_SetString(PyExc_TypeError, "midibuffer.data.message.MidiMessage is not a class");
            return NULL;
        }
        PyObject *closed = import_attribute("midibuffer.errors", "ClosedEndpointError");
        if (closed == NULL) {
            Py_DECREF(message);
            return NULL;
        }
        PyObject *factory = import_attribute("midibuffer.errors", "not_a_message");
        if (factory == NULL) {
            Py_DECREF(message);
            Py_DECREF(closed);
            return NULL;
        }
        message_type = message;
        closed_endpoint_error = closed;
        not_a_message = factory;
    }
    if (PyType_Ready(&RingType) < 0 || PyType_Ready(&ProducerCoreType) < 0 ||
        PyType_Ready(&ConsumerCoreType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&ring_module);
    if (module == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(module);
        return NULL;
    }
#endif
    if (PyModule_AddObjectRef(module, "Ring", (PyObject *)&RingType) < 0 ||
        PyModule_AddObjectRef(module, "ProducerCore", (PyObject *)&ProducerCoreType) < 0 ||
        PyModule_AddObjectRef(module, "ConsumerCore", (PyObject *)&ConsumerCoreType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
