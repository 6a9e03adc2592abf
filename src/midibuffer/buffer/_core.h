/* What the two C cores (_ring.c, _shared.c) share: the Python objects each
 * module instance imports from midibuffer, and the errors it raises with them.
 *
 * Each module uses multi-phase initialisation (PEP 489): every interpreter
 * that imports it gets its own module object, types and state, so nothing
 * here is process-global. docs/design.md ("The C core") has the reasoning.
 */
#ifndef MIDIBUFFER_CORE_H
#define MIDIBUFFER_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Imported from midibuffer when a module instance executes. */
typedef struct {
    PyTypeObject *message_type;      /* midibuffer.data.message.MidiMessage */
    PyObject *closed_endpoint_error; /* midibuffer.errors.ClosedEndpointError */
    PyObject *not_a_message;         /* midibuffer.errors.not_a_message */
} CoreImports;

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

static int
core_imports_load(CoreImports *imports)
{
    PyObject *message = import_attribute("midibuffer.data.message", "MidiMessage");
    if (message == NULL) {
        return -1;
    }
    if (!PyType_Check(message)) {
        Py_DECREF(message);
        PyErr_SetString(PyExc_TypeError, "midibuffer.data.message.MidiMessage is not a class");
        return -1;
    }
    imports->message_type = (PyTypeObject *)message; /* on failure, m_free drops what was loaded */
    imports->closed_endpoint_error = import_attribute("midibuffer.errors", "ClosedEndpointError");
    if (imports->closed_endpoint_error == NULL) {
        return -1;
    }
    imports->not_a_message = import_attribute("midibuffer.errors", "not_a_message");
    return imports->not_a_message == NULL ? -1 : 0;
}

static int
core_imports_traverse(CoreImports *imports, visitproc visit, void *arg)
{
    Py_VISIT(imports->message_type);
    Py_VISIT(imports->closed_endpoint_error);
    Py_VISIT(imports->not_a_message);
    return 0;
}

static void
core_imports_clear(CoreImports *imports)
{
    Py_CLEAR(imports->message_type);
    Py_CLEAR(imports->closed_endpoint_error);
    Py_CLEAR(imports->not_a_message);
}

/* Raise the TypeError that midibuffer.errors.not_a_message builds for *value*. */
static PyObject *
raise_not_a_message(const CoreImports *imports, PyObject *value)
{
    PyObject *error = PyObject_CallOneArg(imports->not_a_message, value);
    if (error != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
    }
    return NULL;
}

static PyObject *
raise_closed(const CoreImports *imports, PyObject *end)
{
    PyErr_Format(imports->closed_endpoint_error, "this %s was closed", Py_TYPE(end)->tp_name);
    return NULL;
}

/* The end of a heap type instance's deallocation: free it, then drop the
 * reference every instance holds to its (heap) type. */
static void
free_instance(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

/* Add *spec*'s type, made for *module*, to it under its short name. */
static PyTypeObject *
add_type(PyObject *module, PyType_Spec *spec)
{
    PyTypeObject *type = (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, type) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return type; /* a new reference */
}

/* Add the types of *specs*, a NULL-ended list, to *module*, which holds them. */
static int
add_types(PyObject *module, PyType_Spec *const specs[])
{
    for (; *specs != NULL; specs++) {
        PyTypeObject *type = add_type(module, *specs);
        if (type == NULL) {
            return -1;
        }
        Py_DECREF(type);
    }
    return 0;
}

#endif /* MIDIBUFFER_CORE_H */
