"""`Phase`: one gradient step of a round, with everything it needs."""

import dataclasses
from typing import Callable
from typing import Optional

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.objectives import STUDENT_LOGS


@keras_dfkd_export("keras_dfkd.methods.Phase")
@dataclasses.dataclass(frozen=True)
class Phase:
    """One gradient step of a round, repeated, and the hooks around it.

    A method's `phases` is the list of its phases in round order. For each,
    the distiller (once per round, inside the compiled step):

    ```
    zero the groups' optimizer slots      # if reset_optimizer
    begin()                               # e.g. redraw a noisy layer
    n = repeats if when is None or when() else 0
    repeat n times:
        loss, logs = loss_fn(student)
        one optimizer step of each of `groups` on d loss / d variables
    logs |= end() or {}                   # e.g. pool the best images
    ```

    Args:
        name: str. Shown in error messages.
        groups: tuple of str. The variable groups (`"generator"`,
            `"student"`, `"replay"`, ...) whose optimizers apply the
            gradients of `loss` (DAFL's joint step names two).
        loss: callable `student -> (loss, logs)`: a scalar loss written in
            `keras.ops` and a dict of scalars to log (names from the
            phase's `logs`).
        repeats: int >= 1. Steps per round (the most, with `when`).
            Defaults to `1`.
        when: `None` or a callable `() -> bool` (a Python bool, fixed at
            trace time, or a scalar boolean tensor decided inside the
            step): the phase runs `repeats` steps when it holds and none
            otherwise (e.g. no student steps during a warm-up). Defaults
            to `None` (always).
        begin: `None` or a callable `() -> None` run before the first
            step (it may assign the method's variables). Defaults to
            `None`.
        end: `None` or a callable `() -> dict or None` run after the last
            step; it may return scalars to log. Defaults to `None`.
        reset_optimizer: bool, or a tuple of some of `groups`. Zero the
            optimizer slots and iteration counts of the groups (`True`:
            all of them) before `begin`, as if fresh optimizers were
            created (NAYER's per-batch Adam). Defaults to `False`.
        logs: tuple of str. The names `loss` and `end` log, reported as
            running means over the epoch. Defaults to `()`.
        gauges: tuple of str. Names `end` logs that are reported as their
            latest value (e.g. a pool's size). Defaults to `()`.
    """

    name: str
    groups: tuple
    loss: Callable
    repeats: int = 1
    when: Optional[Callable] = None
    begin: Optional[Callable] = None
    end: Optional[Callable] = None
    reset_optimizer: object = False
    logs: tuple = ()
    gauges: tuple = ()

    def __post_init__(self):
        for field, example in (
            ("groups", "('student',)"),
            ("logs", "('student_loss',)"),
            ("gauges", "('pool_images',)"),
        ):
            value = getattr(self, field)
            if isinstance(value, str):
                raise ValueError(
                    f"Phase {self.name!r}: `{field}` must be a tuple of "
                    f"names such as {example}; received {value!r}."
                )
            object.__setattr__(self, field, tuple(value))
        reset = self.reset_optimizer
        if not isinstance(reset, bool):
            reset = tuple(reset)
            unknown = sorted(set(reset) - set(self.groups))
            if unknown:
                raise ValueError(
                    f"Phase {self.name!r}: `reset_optimizer` names groups "
                    f"{unknown} that the phase does not train "
                    f"({self.groups})."
                )
            object.__setattr__(self, "reset_optimizer", reset)
        if (
            not isinstance(self.repeats, int)
            or isinstance(self.repeats, bool)
            or self.repeats < 1
        ):
            raise ValueError(
                f"Phase {self.name!r}: `repeats` must be an int >= 1; "
                f"received {self.repeats!r}. Use `when` to skip a phase."
            )
        if not callable(self.loss):
            raise TypeError(
                f"Phase {self.name!r}: `loss` must be a callable "
                "`student -> (loss, logs)`."
            )

    @classmethod
    def student(cls, loss, repeats=1, when=None):
        """The `"student"` group's phase, logging `objectives.STUDENT_LOGS`."""
        return cls(
            "student", ("student",), loss, repeats, when, logs=STUDENT_LOGS
        )

    @classmethod
    def generator(cls, loss, logs=(), **kwargs):
        """The `"generator"` group's phase; `kwargs` as the constructor's."""
        return cls("generator", ("generator",), loss, logs=logs, **kwargs)
