/*
 * tcu_plugin.h - the C ABI between the TCU core and a subsystem library.
 *
 * This header mirrors subsystems/sdk/src/abi.rs one to one. The Rust file is
 * the reference; subsystems/sdk/tests/header_sync.rs compiles this header and
 * fails if a constant, a size, an offset or a type differs between the two.
 *
 * Plain C99; usable from C++ as well.
 *
 * ---------------------------------------------------------------------------
 * Writing a plugin in C
 * ---------------------------------------------------------------------------
 *
 * Build a shared library (cc -std=c99 -shared -fPIC ...) that exports ONE data
 * symbol, named TCU_DESCRIPTOR_SYMBOL ("tcu_plugin_descriptor"):
 *
 *     static const TcuSignalDecl READS[] = {
 *         { "Vehicle.Speed", TCU_TYPE_FLOAT },
 *     };
 *     static const TcuSignalDecl WRITES[] = {
 *         { "Vehicle.Powertrain.Range", TCU_TYPE_UINT32 },
 *     };
 *
 *     const TcuPluginDescriptor tcu_plugin_descriptor = {
 *         TCU_ABI_VERSION,
 *         TCU_DESCRIPTOR_SIZE,
 *         "range", "1.0.0",
 *         READS, sizeof READS / sizeof READS[0],
 *         WRITES, sizeof WRITES / sizeof WRITES[0],
 *         my_create, my_tick, my_command, my_snapshot, my_restore,
 *         my_destroy, my_last_error,
 *     };
 *
 * The descriptor is data, not a function, so that the host (and
 * `tcu plugin inspect`) can check the ABI version and the declared signals
 * before running any code of the library. abi_version and descriptor_size
 * are always the first two fields; the host reads them first. Set them to
 * TCU_ABI_VERSION and sizeof(TcuPluginDescriptor) as compiled against this
 * header (TCU_DESCRIPTOR_SIZE is that size). Every function pointer must be
 * set. The declaration at the end of this header makes the compiler check
 * the definition's type and, in C++, gives it external C linkage.
 *
 * Signals: each declared read is one input slot, each declared write one
 * output slot, in declaration order. Every value is a double whatever the
 * declared TCU_TYPE_*: booleans are 0.0 / 1.0, integer types carry exact
 * whole numbers (round before writing a TCU_TYPE_UINT32, for example). The
 * host checks each path and type against its signal catalogue and rejects
 * unknown paths, wrong types and a second writer of a signal it already owns.
 *
 * tick: `inputs` has n_reads values, `outputs` n_writes values. Both arrays
 * are borrowed for the call only. `outputs` arrives holding the current bus
 * values, so a slot left alone keeps its value. `inputs` may be NULL when
 * n_reads is 0, `outputs` when n_writes is 0. Do not allocate on this path.
 *
 * Errors: every function except destroy and last_error returns a TcuStatus.
 * After a non-OK status, last_error(instance, buf, cap) copies the message
 * (UTF-8, truncated to cap - 1 bytes, always NUL-terminated when cap > 0;
 * buf may be NULL when cap is 0) and returns the FULL length of the message
 * without the NUL, so the host can call it with cap 0 first to size its
 * buffer. When create fails there is no instance: the host calls
 * last_error(NULL, ...) and gets the create error from library-global
 * storage.
 *
 * command: a plugin-specific command with one numeric argument. Return
 * TCU_STATUS_UNSUPPORTED for a name the plugin does not know.
 *
 * Snapshots (state carried across a hot swap; the bytes are the plugin's own
 * format, and restore must accept snapshots of earlier versions):
 *   snapshot(instance, buf, cap, &len) always stores the full snapshot size
 *   in *out_len. If it exceeds cap, nothing is written and the call returns
 *   TCU_STATUS_BUFFER_TOO_SMALL; the host then retries with a buffer of
 *   *out_len bytes. buf may be NULL when cap is 0.
 *   restore(instance, data, len) replaces the state; bad bytes return
 *   TCU_STATUS_INVALID_ARGUMENT with a last_error message.
 *
 * Rules the host relies on: no threads, no thread-local storage with
 * destructors, and the library is never unloaded once it ran code, so
 * library-global storage lives for the whole process.
 *
 * New fields are only ever appended to TcuPluginDescriptor; removing or
 * changing one bumps TCU_ABI_VERSION.
 */
#ifndef TCU_PLUGIN_H
#define TCU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version implemented by this header. Bumped on any breaking change. */
#define TCU_ABI_VERSION 1u

/* Name of the exported descriptor symbol. */
#define TCU_DESCRIPTOR_SYMBOL "tcu_plugin_descriptor"

/* Status code returned by every entry point. */
typedef int32_t TcuStatus;
/* The call succeeded. */
#define TCU_STATUS_OK 0
/* The plugin reported an error; last_error has the message. */
#define TCU_STATUS_ERROR 1
/* The plugin panicked (Rust plugins); the panic was caught at the boundary. */
#define TCU_STATUS_PANIC 2
/* An argument was invalid (null pointer, bad snapshot bytes, ...). */
#define TCU_STATUS_INVALID_ARGUMENT 3
/* The snapshot buffer is too small; *out_len holds the size needed. */
#define TCU_STATUS_BUFFER_TOO_SMALL 4
/* The command is not known to this plugin. */
#define TCU_STATUS_UNSUPPORTED 5

/* Datatype of a declared signal, matching the VSS `datatype` column. */
typedef uint32_t TcuDataType;
#define TCU_TYPE_BOOLEAN 1u
#define TCU_TYPE_INT8 2u
#define TCU_TYPE_UINT8 3u
#define TCU_TYPE_INT16 4u
#define TCU_TYPE_UINT16 5u
#define TCU_TYPE_INT32 6u
#define TCU_TYPE_UINT32 7u
#define TCU_TYPE_FLOAT 8u
#define TCU_TYPE_DOUBLE 9u

/* One signal a plugin reads or writes. */
typedef struct TcuSignalDecl {
    /* VSS path, NUL-terminated, e.g. "Vehicle.Speed". */
    const char *path;
    /* One of the TCU_TYPE_* constants. */
    TcuDataType datatype;
} TcuSignalDecl;

/* Creates an instance. `seed` feeds every random source of the plugin. */
typedef TcuStatus (*TcuCreateFn)(uint64_t seed, void **out_instance);
/* Advances an instance by dt_s seconds; see "tick" above. */
typedef TcuStatus (*TcuTickFn)(void *instance, double dt_s, const double *inputs,
                               double *outputs);
/* A plugin-specific command (e.g. "reset"), with one numeric argument. */
typedef TcuStatus (*TcuCommandFn)(void *instance, const char *name, double value);
/* Writes the instance state into buf; see "Snapshots" above. */
typedef TcuStatus (*TcuSnapshotFn)(void *instance, uint8_t *buf, size_t cap,
                                   size_t *out_len);
/* Replaces the instance state with a snapshot of this or an earlier version. */
typedef TcuStatus (*TcuRestoreFn)(void *instance, const uint8_t *data, size_t len);
/* Destroys an instance created by create. */
typedef void (*TcuDestroyFn)(void *instance);
/* Copies the last error message and returns its full length; see "Errors". */
typedef size_t (*TcuLastErrorFn)(void *instance, char *buf, size_t cap);

/* What a subsystem library exports under TCU_DESCRIPTOR_SYMBOL. */
typedef struct TcuPluginDescriptor {
    /* Must equal TCU_ABI_VERSION; read before anything else. */
    uint32_t abi_version;
    /* sizeof(TcuPluginDescriptor) as the plugin was built. */
    uint32_t descriptor_size;
    /* Subsystem name, NUL-terminated ("battery", "abs", ...). */
    const char *name;
    /* Semantic version of the library, NUL-terminated. */
    const char *version;
    /* Signals read, in input order. */
    const TcuSignalDecl *reads;
    /* Number of entries in reads. */
    size_t n_reads;
    /* Signals written, in output order. */
    const TcuSignalDecl *writes;
    /* Number of entries in writes. */
    size_t n_writes;
    TcuCreateFn create;
    TcuTickFn tick;
    TcuCommandFn command;
    TcuSnapshotFn snapshot;
    TcuRestoreFn restore;
    TcuDestroyFn destroy;
    TcuLastErrorFn last_error;
} TcuPluginDescriptor;

/* Size of the descriptor this header describes, for descriptor_size. */
#define TCU_DESCRIPTOR_SIZE ((uint32_t)sizeof(TcuPluginDescriptor))

/* The symbol every plugin defines (and the host looks up by name). */
extern const TcuPluginDescriptor tcu_plugin_descriptor;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TCU_PLUGIN_H */
