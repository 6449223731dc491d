"""Tests of `mock_result_service` / `ResultServiceMocker`: targets, async inference, signature
checks, behaviours, thread safety, restoring, and every assertion passing and failing."""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
import types
from typing import Any

import pytest

from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.testing import (
    MockTargetError,
    ResultServiceMocker,
    assert_result_error,
    assert_result_success,
    mock_result_service,
)


class Accounts:
    """A service with sync, async, static and class methods."""

    def get_account(self, account_id: str, *, verbose: bool = False) -> Result[str, str]:
        raise RuntimeError("real service called")

    async def get_account_async(self, account_id: str) -> Result[str, str]:
        raise RuntimeError("real service called")

    def returns_coroutine(self, account_id: str) -> Any:
        """Sync by definition even though it returns an awaitable."""
        raise RuntimeError("real service called")

    @staticmethod
    def normalize(account_id: str) -> Result[str, str]:
        raise RuntimeError("real service called")

    @classmethod
    async def create(cls, name: str) -> Result[str, str]:
        raise RuntimeError("real service called")


class Odd:
    """A class whose functions take no ``self`` or only ``*args``."""

    def ping() -> Result[str, str]:  # type: ignore[misc]
        return Success("real")

    def anything(*args: Any) -> Result[int, str]:
        return Success(len(args))


class PremiumAccounts(Accounts):
    """Inherits every method from `Accounts`."""


class AsyncCallable:
    """An object whose ``__call__`` is a coroutine function."""

    async def __call__(self, item: int) -> Result[int, str]:
        raise RuntimeError("real service called")


class Slotted:
    """An instance without ``__dict__``: its methods cannot be replaced per instance."""

    __slots__ = ()

    def fetch(self) -> Result[int, str]:
        return Success(1)


#: A global with a name unique in the test run, found by bare-name lookup.
ledger_for_mock_tests = Accounts()


# -- targets and restoring ---------------------------------------------------------------------


def test_instance_method_is_replaced_and_restored() -> None:
    """A sync instance method returns the configured Result and the original comes back."""
    accounts = Accounts()
    original = accounts.get_account
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success("acc-1")
        assert accounts.get_account("1") == Success("acc-1")
        assert not mock.is_async
    assert accounts.get_account == original
    assert "get_account" not in vars(accounts)
    mock.assert_called_once_with("1")


def test_original_is_restored_when_the_block_raises() -> None:
    """Leaving the block through an exception still restores the method."""
    accounts = Accounts()

    def failing_block() -> None:
        with mock_result_service(accounts, "get_account") as mock:
            mock.return_success("x")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        failing_block()
    with pytest.raises(RuntimeError, match="real service"):
        accounts.get_account("1")


def test_instance_attribute_that_existed_is_put_back() -> None:
    """A method already set on the instance itself is restored, not deleted."""
    accounts = Accounts()

    def own(account_id: str) -> Result[str, str]:
        return Success("own")

    accounts.get_account = own  # type: ignore[method-assign]
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success("mocked")
        assert accounts.get_account("1") == Success("mocked")
    assert accounts.get_account("1") == Success("own")


@pytest.mark.asyncio
async def test_async_is_inferred_from_the_original_method() -> None:
    """An async original gives an async mock, whatever value it is told to return."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account_async") as mock:
        mock.return_success("acc-2")
        pending = accounts.get_account_async("2")
        assert inspect.isawaitable(pending)
        assert await pending == Success("acc-2")
    assert mock.is_async
    mock.assert_awaited_once_with("2")


def test_sync_original_returning_an_awaitable_stays_sync() -> None:
    """A sync method stays sync even when the configured value is a coroutine function."""
    accounts = Accounts()
    with mock_result_service(accounts, "returns_coroutine") as mock:
        mock.return_value(Success("plain"))
        assert accounts.returns_coroutine("1") == Success("plain")
    assert not mock.is_async


@pytest.mark.asyncio
async def test_async_callable_object_gives_an_async_mock() -> None:
    """An object with ``async def __call__`` as the original counts as async."""
    holder = types.SimpleNamespace(handler=AsyncCallable())
    with mock_result_service(holder, "handler") as mock:
        mock.return_success(5)
        assert await holder.handler(1) == Success(5)


@pytest.mark.asyncio
async def test_is_async_override_wins_over_inference() -> None:
    """``is_async=True`` makes a sync original return an awaitable."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account", is_async=True) as mock:
        mock.return_success("a")
        assert await accounts.get_account("1") == Success("a")


def test_class_method_patch_records_calls_without_self() -> None:
    """Patching a class affects its instances; ``self`` is neither checked nor recorded."""
    with mock_result_service(Accounts, "get_account") as mock:
        mock.return_success("via-class")
        assert Accounts().get_account("7", verbose=True) == Success("via-class")
        with pytest.raises(TypeError, match="get_account"):
            Accounts().get_account()
    mock.assert_called_once_with("7", verbose=True)
    with pytest.raises(RuntimeError):
        Accounts().get_account("7")


def test_class_function_without_parameters_is_mocked_as_is() -> None:
    """A parameterless function on a class keeps its (empty) signature."""
    with mock_result_service(Odd, "ping") as mock:
        mock.return_success("mocked")
        assert Odd.ping(Odd()) == Success("mocked")  # type: ignore[call-arg]
    mock.assert_called_once_with()
    with mock_result_service(Odd, "anything") as star:
        star.return_success(0)
        assert Odd().anything(1, 2) == Success(0)
    star.assert_called_once_with(1, 2)


def test_inherited_method_patch_on_subclass_is_removed_after() -> None:
    """Mocking an inherited method on a subclass leaves the base class untouched and restores
    inheritance afterwards."""
    with mock_result_service(PremiumAccounts, "get_account") as mock:
        mock.return_success("premium")
        assert PremiumAccounts().get_account("1") == Success("premium")
        with pytest.raises(RuntimeError):
            Accounts().get_account("1")
    assert "get_account" not in vars(PremiumAccounts)
    assert PremiumAccounts.get_account is Accounts.get_account


@pytest.mark.asyncio
async def test_static_and_class_methods_are_replaced_in_kind() -> None:
    """A staticmethod stays static and a classmethod stays a classmethod (async inferred)."""
    with (
        mock_result_service(Accounts, "normalize") as normalize,
        mock_result_service(Accounts, "create") as create,
    ):
        normalize.return_success("N")
        create.return_success("C")
        assert Accounts.normalize("x") == Success("N")
        assert Accounts().normalize("y") == Success("N")
        assert await Accounts.create("bob") == Success("C")
        with pytest.raises(TypeError):
            Accounts.create("bob", "extra")
    normalize.assert_called_with("y")
    create.assert_awaited_once_with("bob")
    assert isinstance(vars(Accounts)["normalize"], staticmethod)
    assert isinstance(vars(Accounts)["create"], classmethod)


def test_module_function_is_replaced_through_a_dotted_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dotted path reaching a module attribute resolves and is patched on the module."""
    module = types.ModuleType("rfs_fake_mock_services")

    def lookup(key: str) -> Result[int, str]:
        return Success(0)

    module.lookup = lookup  # type: ignore[attr-defined]
    module.registry = Accounts()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rfs_fake_mock_services", module)
    with mock_result_service("rfs_fake_mock_services", "lookup") as mock:
        mock.return_success(41)
        assert module.lookup("k") == Success(41)
    assert module.lookup("k") == Success(0)
    with mock_result_service("rfs_fake_mock_services.registry", "get_account") as nested:
        nested.return_error("gone")
        assert module.registry.get_account("1") == Failure("gone")


def test_dotted_path_with_a_missing_attribute_names_it() -> None:
    """A dotted path whose attribute does not exist raises MockTargetError naming it."""
    with (
        pytest.raises(MockTargetError, match="has no attribute 'nope'"),
        mock_result_service("json.nope", "x"),
    ):
        pass


def test_dotted_path_without_importable_module_is_an_error() -> None:
    """A dotted path with no importable prefix raises MockTargetError."""
    with (
        pytest.raises(MockTargetError, match="no importable module"),
        mock_result_service("no_such_pkg_rfs.svc", "get"),
    ):
        pass


def test_bare_name_resolves_a_unique_global() -> None:
    """A bare name bound to one object among loaded modules' globals is found."""
    with mock_result_service("ledger_for_mock_tests", "get_account") as mock:
        mock.return_success("found")
        assert ledger_for_mock_tests.get_account("1") == Success("found")


def test_bare_name_bound_to_the_same_object_twice_is_not_ambiguous(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-exports of the same object are deduplicated by identity."""
    shared = Accounts()
    for name in ("rfs_fake_reexport_a", "rfs_fake_reexport_b"):
        module = types.ModuleType(name)
        module.shared_ledger_rfs = shared  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
    with mock_result_service("shared_ledger_rfs", "get_account") as mock:
        mock.return_success("one")
        assert shared.get_account("1") == Success("one")


def test_ambiguous_bare_name_lists_candidates_and_suggests_a_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two different objects under one name raise MockTargetError listing both."""
    for name in ("rfs_fake_amb_a", "rfs_fake_amb_b"):
        module = types.ModuleType(name)
        module.twin_ledger_rfs = Accounts()  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(MockTargetError) as info:
        mock_result_service("twin_ledger_rfs", "get_account").start()
    message = str(info.value)
    assert "ambiguous" in message
    assert "rfs_fake_amb_a.twin_ledger_rfs" in message
    assert "rfs_fake_amb_b.twin_ledger_rfs" in message
    assert "mock_result_service('rfs_fake_amb_" in message


def test_bare_name_naming_a_loaded_module_resolves_to_it() -> None:
    """A bare name that is a loaded module's name (and no global) resolves to the module."""
    with mock_result_service("rfs_monitoring", "__getattr__") as mock:
        assert isinstance(mock.target, types.ModuleType)


def test_unknown_bare_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare name bound nowhere raises MockTargetError suggesting a dotted path (placeholder
    entries in sys.modules are skipped)."""
    monkeypatch.setitem(sys.modules, "rfs_fake_placeholder", None)
    with pytest.raises(MockTargetError, match="no loaded module defines"):
        mock_result_service("nothing_is_called_this_rfs", "get").start()


def test_missing_method_is_an_attribute_error() -> None:
    """Mocking a method the target does not have raises AttributeError."""
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        mock_result_service(Accounts(), "missing").start()


def test_slotted_instance_cannot_be_patched() -> None:
    """An instance without __dict__ gives a clear AttributeError suggesting the class."""
    with pytest.raises(AttributeError, match="mock the class"):
        mock_result_service(Slotted(), "fetch").start()


def test_starting_twice_is_refused_and_stopping_twice_is_harmless() -> None:
    """A started mocker cannot be started again; stop() is idempotent."""
    mock = ResultServiceMocker(Accounts(), "get_account").start()
    with pytest.raises(RuntimeError, match="already started"):
        mock.start()
    mock.stop()
    mock.stop()
    assert "stopped" in repr(mock)


@pytest.mark.asyncio
async def test_async_with_installs_and_restores() -> None:
    """The mocker works as an async context manager too."""
    accounts = Accounts()
    async with ResultServiceMocker(accounts, "get_account_async") as mock:
        mock.return_error("down")
        assert await accounts.get_account_async("1") == Failure("down")
        assert "started" in repr(mock)
    assert "get_account_async" not in vars(accounts)


# -- signature checks --------------------------------------------------------------------------


def test_wrong_call_raises_type_error_like_the_original() -> None:
    """A call that does not fit the original signature raises TypeError and is not recorded."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success("x")
        with pytest.raises(TypeError, match="get_account"):
            accounts.get_account("1", "2")
        with pytest.raises(TypeError):
            accounts.get_account(account="1")
    mock.assert_not_called()


@pytest.mark.asyncio
async def test_wrong_call_to_async_mock_raises_at_the_call() -> None:
    """As with a real coroutine function, bad arguments fail before anything is awaited."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account_async") as mock:
        with pytest.raises(TypeError):
            accounts.get_account_async()
        mock.assert_not_called()


def test_builtin_without_signature_accepts_any_call() -> None:
    """When the original has no introspectable signature, calls are not checked."""
    holder = types.SimpleNamespace(fn=print)
    original = inspect.signature

    def no_signature(obj: Any, **kwargs: Any) -> inspect.Signature:
        if obj is print:
            raise ValueError("no signature")
        return original(obj, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inspect, "signature", no_signature)
        with mock_result_service(holder, "fn") as mock:
            mock.return_success(None)
            holder.fn(1, 2, anything=3)
    mock.assert_called_once_with(1, 2, anything=3)
    with pytest.raises(AssertionError):
        mock.assert_called_with(1, 2)


# -- behaviours --------------------------------------------------------------------------------


def test_unconfigured_mock_returns_a_failure_saying_so() -> None:
    """Calling a mock with no configured result gives an explanatory Failure."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account"):
        assert_result_error(accounts.get_account("1"), str, match="no result is configured")


def test_return_sequence_then_fail() -> None:
    """A sequence is returned in order, then a Failure saying it is exhausted."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_sequence([Success(1), Failure("e")])
        assert accounts.get_account("a") == Success(1)
        assert accounts.get_account("b") == Failure("e")
        error = assert_result_error(accounts.get_account("c"), str)
    assert error.startswith("Mock sequence exhausted")
    assert "called 3 times" in error


def test_return_sequence_repeat_last_and_cycle() -> None:
    """``then="repeat_last"`` repeats the last item; ``then="cycle"`` starts over."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_sequence([Success(1), Success(2)], then="repeat_last")
        got = [accounts.get_account("x") for _ in range(4)]
        assert got == [Success(1), Success(2), Success(2), Success(2)]
        mock.return_sequence([Success(1), Success(2)], then="cycle")
        got = [accounts.get_account("x") for _ in range(5)]
        assert got == [Success(1), Success(2), Success(1), Success(2), Success(1)]


def test_return_sequence_raises_exception_items() -> None:
    """An exception instance in the sequence is raised at its turn."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_sequence([ConnectionError("flaky"), Success("ok")])
        with pytest.raises(ConnectionError):
            accounts.get_account("1")
        assert accounts.get_account("1") == Success("ok")
    assert mock.call_count == 2


def test_return_sequence_rejects_bad_arguments() -> None:
    """An unknown ``then`` or an empty sequence that must repeat raise ValueError."""
    mock = ResultServiceMocker(Accounts(), "get_account")
    with pytest.raises(ValueError, match="then must be"):
        mock.return_sequence([Success(1)], then="loop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        mock.return_sequence([], then="cycle")


def test_raise_exception_raises_on_every_call() -> None:
    """``raise_exception`` makes the mocked service raise like a broken dependency."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.raise_exception(TimeoutError("slow db"))
        for _ in range(2):
            with pytest.raises(TimeoutError, match="slow db"):
                accounts.get_account("1")
    assert mock.call_count == 2


@pytest.mark.asyncio
async def test_side_effect_sync_and_async_functions() -> None:
    """``side_effect`` computes results from the arguments; async functions are awaited."""
    accounts = Accounts()

    async def lookup(account_id: str) -> Result[str, str]:
        await asyncio.sleep(0)
        return Success(account_id.upper())

    with mock_result_service(accounts, "get_account_async") as mock:
        mock.side_effect(lookup)
        assert await accounts.get_account_async("ab") == Success("AB")
        mock.side_effect(lambda account_id: Failure(f"no {account_id}"))
        assert await accounts.get_account_async("cd") == Failure("no cd")
    with mock_result_service(accounts, "get_account") as sync_mock:
        sync_mock.side_effect(lambda account_id, verbose=False: Success((account_id, verbose)))
        assert accounts.get_account("z", verbose=True) == Success(("z", True))


@pytest.mark.asyncio
async def test_with_delay_makes_async_mock_slow_enough_to_time_out() -> None:
    """An async mock with a delay can be cut short by a timeout."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account_async") as mock:
        mock.return_success("late").with_delay(5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(accounts.get_account_async("1"), 0.05)
        mock.with_delay(0.01)
        assert await accounts.get_account_async("1") == Success("late")
    assert mock.await_count == 2


def test_with_delay_sleeps_in_sync_mocks_and_rejects_negatives() -> None:
    """A sync mock sleeps for its delay; a negative or NaN delay is refused."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success(1).with_delay(0.02)
        started = time.perf_counter()
        accounts.get_account("1")
        assert time.perf_counter() - started >= 0.015
    with pytest.raises(ValueError, match="non-negative"):
        mock.with_delay(-1)
    with pytest.raises(ValueError, match="non-negative"):
        mock.with_delay(float("nan"))


# -- recording ---------------------------------------------------------------------------------


def test_calls_from_many_threads_are_all_recorded() -> None:
    """Concurrent calls from threads lose no record."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_sequence([Success(i) for i in range(8 * 200)])

        def worker() -> None:
            for _ in range(200):
                accounts.get_account("t")

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert mock.call_count == 1600
    assert len(mock.call_args_history) == 1600
    assert accounts.get_account is not None


@pytest.mark.asyncio
async def test_calls_from_concurrent_tasks_are_all_recorded() -> None:
    """Concurrent tasks each get their own answer and every await is recorded."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account_async") as mock:
        mock.side_effect(lambda account_id: Success(account_id))
        results = await asyncio.gather(*(accounts.get_account_async(str(i)) for i in range(50)))
    assert sorted(r.unwrap() for r in results) == sorted(str(i) for i in range(50))
    assert mock.call_count == mock.await_count == 50
    mock.assert_any_call("17")


def test_calls_call_args_and_reset() -> None:
    """``calls``/``call_args`` show the history; ``reset`` clears it and keeps the behaviour."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        assert mock.call_args is None
        mock.return_success(0)
        accounts.get_account("1")
        accounts.get_account("2", verbose=True)
        assert repr(mock.call_args) == "call('2', verbose=True)"
        assert [c.args for c in mock.calls] == [("1",), ("2",)]
        mock.reset()
        mock.assert_not_called()
        assert accounts.get_account("3") == Success(0)


# -- assertions passing and failing ------------------------------------------------------------


def _called(*calls: tuple[Any, ...]) -> ResultServiceMocker:
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success(None)
        for args in calls:
            accounts.get_account(*args)
    return mock


def test_assert_called_once_with_matches_keyword_spelling() -> None:
    """Positional and keyword spellings of the same call are equal (signature-normalized)."""
    mock = _called(("1",))
    mock.assert_called_once_with(account_id="1")
    mock.assert_called_with("1", verbose=False)


def test_assert_called_once_with_fails_on_count_and_arguments() -> None:
    """Wrong count and wrong arguments fail with the history in the message."""
    with pytest.raises(AssertionError, match=r"called 2 times.*call\('1'\), call\('2'\)"):
        _called(("1",), ("2",)).assert_called_once_with("1")
    with pytest.raises(AssertionError, match=r"the latest was call\('1'\)"):
        _called(("1",)).assert_called_once_with("9")


def test_assert_called_with_on_an_uncalled_mock_fails() -> None:
    """``assert_called_with`` fails when there are no calls, and on argument mismatch."""
    with pytest.raises(AssertionError, match="no calls"):
        _called().assert_called_with("1")
    with pytest.raises(AssertionError, match="latest"):
        _called(("1",)).assert_called_with("1", "extra", "args")


def test_assert_called_and_called_once() -> None:
    """``assert_called``/``assert_called_once`` pass and fail on the count."""
    _called(("1",)).assert_called()
    _called(("1",)).assert_called_once()
    with pytest.raises(AssertionError, match="was not called"):
        _called().assert_called()
    with pytest.raises(AssertionError, match="called 0 times"):
        _called().assert_called_once()


def test_assert_any_call_and_not_called() -> None:
    """``assert_any_call`` finds any matching call; ``assert_not_called`` fails after a call."""
    mock = _called(("1",), ("2",))
    mock.assert_any_call("1")
    with pytest.raises(AssertionError, match="calls: call"):
        mock.assert_any_call("3")
    with pytest.raises(AssertionError, match="not to be called"):
        mock.assert_not_called()
    _called().assert_not_called()


@pytest.mark.asyncio
async def test_awaited_assertions_pass_and_fail() -> None:
    """The awaited aliases count awaits, not calls, and fail with the actual state."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account_async") as mock:
        mock.return_success(1)
        mock.assert_not_awaited()
        with pytest.raises(AssertionError, match="not awaited"):
            mock.assert_awaited()
        with pytest.raises(AssertionError, match="no await"):
            mock.assert_awaited_with("1")
        pending = accounts.get_account_async("1")
        mock.assert_called_once_with("1")
        with pytest.raises(AssertionError, match="awaited 0 times"):
            mock.assert_awaited_once()
        await pending
        mock.assert_awaited()
        mock.assert_awaited_once_with("1")
        with pytest.raises(AssertionError, match="the latest was call"):
            mock.assert_awaited_with("2")
        await accounts.get_account_async("2")
        with pytest.raises(AssertionError, match="awaited 2 times"):
            mock.assert_not_awaited()
        with pytest.raises(AssertionError, match="awaited 2 times"):
            mock.assert_awaited_once_with("2")


def test_awaited_assertions_on_a_sync_mock_fail() -> None:
    """A sync mock cannot be awaited, so the awaited assertions say so."""
    with pytest.raises(AssertionError, match="is not async"):
        _called(("1",)).assert_awaited()


def test_mocked_results_work_with_result_assertions() -> None:
    """The mock's Results go straight into the assertion helpers."""
    accounts = Accounts()
    with mock_result_service(accounts, "get_account") as mock:
        mock.return_success("acc")
        assert assert_result_success(accounts.get_account("1"), str) == "acc"
