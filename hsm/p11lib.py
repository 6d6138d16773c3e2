"""Loading a PKCS#11 module so that several threads may use it at once.

python-pkcs11 0.10 calls ``C_Initialize(NULL)``. Per PKCS#11 §5.4 a NULL argument tells the module
the application will not call it from several threads, and SoftHSM2 then disables its mutexes:
two threads signing at once corrupt its state and crash the process. python-pkcs11 offers no way
to pass ``CK_C_INITIALIZE_ARGS``, so right after it loads the module (before any session exists)
we finalize and re-initialize the *same* module instance through its own function list with
``CKF_OS_LOCKING_OK``. ``dlopen`` returns the already-loaded library, so python-pkcs11 keeps using
the now thread-safe module and never notices.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Any

import pkcs11

from hsm.errors import HsmError

log = logging.getLogger(__name__)

CKR_OK = 0
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKF_OS_LOCKING_OK = 0x2

_CK_RV = ctypes.c_ulong
_FN = ctypes.c_void_p


class _InitArgs(ctypes.Structure):
    _fields_ = [
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("pReserved", ctypes.c_void_p),
    ]


class _FunctionList(ctypes.Structure):
    # The leading part of CK_FUNCTION_LIST (PKCS#11 v2.40 §5.14); only what we call.
    _fields_ = [
        ("major", ctypes.c_ubyte),
        ("minor", ctypes.c_ubyte),
        ("C_Initialize", _FN),
        ("C_Finalize", _FN),
        ("C_GetInfo", _FN),
        ("C_GetFunctionList", _FN),
        ("C_GetSlotList", _FN),
        ("C_GetSlotInfo", _FN),
        ("C_GetTokenInfo", _FN),
        ("C_GetMechanismList", _FN),
        ("C_GetMechanismInfo", _FN),
        ("C_InitToken", _FN),
        ("C_InitPIN", _FN),
        ("C_SetPIN", _FN),
        ("C_OpenSession", _FN),
        ("C_CloseSession", _FN),
        ("C_CloseAllSessions", _FN),
    ]


class ModuleControl:
    """Direct access to a few functions of a loaded module, beside python-pkcs11."""

    def __init__(self, module_path: str) -> None:
        self.module_path = module_path
        self._dll = ctypes.CDLL(module_path)
        fl = ctypes.POINTER(_FunctionList)()
        rv = self._dll.C_GetFunctionList(ctypes.byref(fl))
        if rv != CKR_OK:
            raise HsmError(f"C_GetFunctionList failed in {module_path} (rv=0x{rv:x})")
        self._fl = fl.contents

    def _call(self, name: str, *argtypes: Any) -> Any:
        ptr = getattr(self._fl, name)
        return ctypes.CFUNCTYPE(_CK_RV, *argtypes)(ptr)

    def reinitialize_with_os_locking(self) -> None:
        finalize = self._call("C_Finalize", ctypes.c_void_p)
        initialize = self._call("C_Initialize", ctypes.c_void_p)
        finalize(None)
        args = _InitArgs(flags=CKF_OS_LOCKING_OK)
        rv = initialize(ctypes.byref(args))
        if rv not in (CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED):
            raise HsmError(f"C_Initialize with OS locking failed (rv=0x{rv:x})")

    def init_token(self, slot_id: int, so_pin: str, label: str) -> None:
        """C_InitToken (python-pkcs11 has no binding for it). Destroys what the token held."""
        fn = self._call(
            "C_InitToken", ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p
        )
        pin = so_pin.encode()
        padded = label.encode()[:32].ljust(32, b" ")  # CK_UTF8CHAR[32], blank padded
        rv = fn(slot_id, pin, len(pin), padded)
        if rv != CKR_OK:
            raise HsmError(f"C_InitToken failed for token '{label}' (rv=0x{rv:x})")

    def finalize(self) -> None:
        """C_Finalize: what a restart of the module looks like to a process using it."""
        self._call("C_Finalize", ctypes.c_void_p)(None)

    def close_all_sessions(self, slot_id: int) -> None:
        """Close every session on a slot (what a token restart does to us)."""
        fn = self._call("C_CloseAllSessions", ctypes.c_ulong)
        rv = fn(slot_id)
        if rv != CKR_OK:
            raise HsmError(f"C_CloseAllSessions failed (rv=0x{rv:x})")


_lock = threading.Lock()
_loaded: dict[tuple[str, int], Any] = {}


class ModuleGuard:
    """Calls into a module share it; re-initialising it (C_Finalize) waits until none is running.

    PKCS#11 §5.4 forbids C_Finalize while other threads are inside the module: with SoftHSM that
    frees the state a concurrent C_Sign is using. Every backend operation holds the guard shared;
    :func:`reload_module` takes it alone. No writer preference: an operation that runs while a
    re-initialisation waits just finishes first (with the token gone, quickly).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._users = 0
        self._exclusive = False

    def __enter__(self) -> ModuleGuard:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._users += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._users -= 1
            self._cond.notify_all()

    def exclusive(self, fn: Any, timeout: float) -> bool:
        """Run ``fn`` with no operation in flight; False (not run) if they did not end in time."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._users == 0 and not self._exclusive, timeout):
                return False
            self._exclusive = True
        try:
            fn()
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
        return True


_guards: dict[str, ModuleGuard] = {}


def guard(module_path: str) -> ModuleGuard:
    """The guard of a module, shared by every backend of this process that uses it."""
    with _lock:
        return _guards.setdefault(module_path, ModuleGuard())


def load_module(module_path: str) -> Any:
    """The python-pkcs11 ``lib`` for a module, initialised with OS locking, once per process.

    Keyed by PID as well: after ``fork`` (gunicorn workers) PKCS#11 requires a fresh
    ``C_Initialize`` in the child.
    """
    key = (module_path, os.getpid())
    with _lock:
        lib = _loaded.get(key)
        if lib is not None:
            return lib
        if not os.path.exists(module_path):
            raise HsmError(f"PKCS#11 module not found: {module_path}")
        try:
            lib = pkcs11.lib(module_path)
            if any(pid != os.getpid() for (_, pid) in _loaded):
                lib.reinitialize()  # forked child: the parent's initialisation does not carry over
            ModuleControl(module_path).reinitialize_with_os_locking()
        except pkcs11.PKCS11Error as ex:
            raise HsmError(f"cannot load PKCS#11 module {module_path}: {type(ex).__name__}") from ex
        _loaded[key] = lib
        log.debug("loaded PKCS#11 module %s with OS locking", module_path)
        return lib


def reload_module(module_path: str, timeout: float = 10.0) -> bool:
    """Finalise and initialise a module again (keeps the python-pkcs11 lib).

    After it was finalised under us, and after the token went away: SoftHSM then answers every
    call, C_GetSlotList included, with CKR_GENERAL_ERROR until it is initialised afresh, even once
    the token is back. Waits for calls in flight (see :class:`ModuleGuard`); returns False when
    they did not end within ``timeout`` (the caller's next failure tries again).
    """

    def again() -> None:
        with _lock:
            if (module_path, os.getpid()) in _loaded:
                ModuleControl(module_path).reinitialize_with_os_locking()

    return guard(module_path).exclusive(again, timeout)
