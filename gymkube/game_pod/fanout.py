"""A game's messages to its members: `state` frames through the frame wire (wire.py), the rest via python-socketio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from gymkube.game_pod.game import Game
from gymkube.game_pod.metrics import PodMetrics
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.remote import RemoteGame
from gymkube.game_pod.session import ParticipantSession
from gymkube.game_pod.wire import DROPPED, SENT, FrameWire, StatePacket

Messages = list[tuple[str, dict[str, Any]]]


class Fanout:
    """Sends each game's messages to its connected members, made personal (their agent, their acks)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        wire: FrameWire | None,
        metrics: PodMetrics,
        dropped: Callable[[ParticipantSession], None],
    ) -> None:
        self.sio, self.wire, self.metrics, self.dropped = sio, wire, metrics, dropped

    def send(self, game: Game | RemoteGame, messages: Messages) -> Awaitable[None] | None:
        """Send a game's messages in order.

        A tick's messages are mostly one `state` frame: with the frame wire those go out here and now
        (None is returned, nothing to await); anything else is a coroutine to await.
        """
        if self.wire is None or not isinstance(game, Game):
            return self._emit(game, messages)
        for event, _ in messages:
            if event != Event.STATE:
                return self._emit(game, messages)
        for _, payload in messages:
            self._send_state(game, payload)
        return None

    async def _emit(self, game: Game | RemoteGame, messages: Messages) -> None:
        """The messages in order through python-socketio (frames through the wire when there is one)."""
        for event, payload in messages:
            if event == Event.STATE and self.wire is not None and isinstance(game, Game):
                self._send_state(game, payload)
                continue
            for agent, member in list(game.members.items()):
                if member.sid is not None:
                    if event == Event.STATE:
                        self.metrics.frames_sent += 1
                    await self.sio.emit(event, game.personal(event, payload, agent), to=member.sid)

    def _send_state(self, game: Game, payload: dict[str, Any]) -> None:
        """One `state` frame, encoded once, to every connected member with their own ack."""
        assert self.wire is not None
        packet = StatePacket(payload)
        for agent, member in list(game.members.items()):
            if member.sid is None:
                continue
            sent = self.wire.send(member.sid, packet.for_member(game.slots[agent].last_seq))
            if sent == SENT:
                self.metrics.frames_sent += 1
            elif sent == DROPPED:
                self.dropped(member)
