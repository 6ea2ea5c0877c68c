"""Serve one H.264 MP4 file over RTSP, looped, without re-encoding (a stand-in for an IP camera).

Runs under the SYSTEM Python (``/usr/bin/python3``), which has PyGObject and GStreamer's RTSP server
bindings; the project's virtual environment has neither, so this file imports nothing from the project.

    /usr/bin/python3 tests/services/rtsp_serve.py clip.mp4 --port 8554 --mount /stream

Each client gets its own pipeline (``filesrc ! qtdemux ! h264parse ! rtph264pay``) starting at the file's
first frame and paced in real time, and the file loops with timestamps that keep increasing across passes,
as a camera's do (see ``loop_forever``). Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad arguments, 3 a GStreamer part is
missing (the message names the Debian package), 4 the port could not be bound.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

REQUIRED_ELEMENTS = {
    "filesrc": "libgstreamer1.0-0",
    "qtdemux": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad",
    "rtph264pay": "gstreamer1.0-plugins-good",
}


def _missing(what: str, package: str) -> None:
    print(f"rtsp_serve: {what} is missing: install the Debian package {package}", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="H.264 MP4 file to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", default="/stream", help="path part of the URL (default /stream)")
    parser.add_argument("--no-loop", action="store_true", help="end the stream at the end of the file")
    args = parser.parse_args()
    if not os.path.isfile(args.file):
        parser.error(f"no such file: {args.file}")

    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except ImportError:
        _missing("PyGObject (module gi)", "python3-gi")
    except ValueError:
        _missing("the GstRtspServer typelib", "gir1.2-gst-rtsp-server-1.0")

    Gst.init(None)
    for element, package in REQUIRED_ELEMENTS.items():
        if Gst.ElementFactory.find(element) is None:
            _missing(f"GStreamer element {element}", package)

    location = args.file.replace("\\", "\\\\").replace('"', '\\"')
    launch = (
        f'( filesrc location="{location}" ! qtdemux ! h264parse name=parse '
        # config-interval=1: SPS/PPS in band before keyframes, as cameras send them. (-1 makes ffmpeg's RTSP
        # client decode every keyframe twice.)
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )

    def loop_forever(parse: Gst.Element) -> None:
        """Probes on the parser's input that loop the file, with timestamps that never go back.

        At the end of the file the demuxer's EOS is dropped, and a flushing seek sends it back to the start;
        that seek's flush is dropped too, so it clears the demuxer's EOS state and goes no further. The new
        pass starts again at running time 0: an offset on the parser's output moves it to where the last
        pass ended.
        """
        sink, src = parse.get_static_pad("sink"), parse.get_static_pad("src")
        state = {"segment": None, "offset": 0, "end": 0, "rewind_seqnum": None}

        def rewind() -> bool:
            seek = Gst.Event.new_seek(
                1.0, Gst.Format.TIME, Gst.SeekFlags.FLUSH, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1
            )
            state["rewind_seqnum"] = seek.get_seqnum()
            demuxer_pad = sink.get_peer()
            if demuxer_pad is None or not demuxer_pad.send_event(seek):
                print("rtsp_serve: rewind seek refused; the stream ends with the file", file=sys.stderr)
            return False  # one-shot GLib source

        def on_event(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            event = info.get_event()
            ours = event.get_seqnum() == state["rewind_seqnum"]
            if event.type == Gst.EventType.EOS:
                GLib.idle_add(rewind)  # seeking from this streaming thread would deadlock
                return Gst.PadProbeReturn.DROP
            if event.type in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP) and ours:
                return Gst.PadProbeReturn.DROP
            if event.type == Gst.EventType.FLUSH_STOP:  # someone else's flushing seek: time starts again
                state["offset"], state["end"] = 0, 0
                src.set_offset(0)
            elif event.type == Gst.EventType.SEGMENT:
                state["segment"] = event.parse_segment().copy()
            return Gst.PadProbeReturn.OK

        def on_buffer(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            buffer, segment = info.get_buffer(), state["segment"]
            if buffer is None or segment is None or buffer.pts == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK
            running = segment.to_running_time(Gst.Format.TIME, buffer.pts)
            if running + state["offset"] < state["end"]:
                state["offset"] = state["end"] - running
                src.set_offset(state["offset"])
            duration = buffer.duration if buffer.duration != Gst.CLOCK_TIME_NONE else 0
            state["end"] = running + state["offset"] + duration
            return Gst.PadProbeReturn.OK

        sink.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH, on_event)
        sink.add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    def on_media_configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        loop_forever(media.get_element().get_by_name("parse"))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    if not args.no_loop:
        factory.connect("media-configure", on_media_configure)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.mount, factory)
    try:
        server.attach(None)
        if server.get_bound_port() != args.port:
            raise GLib.Error("bound to a different port")
    except GLib.Error as exc:
        print(f"rtsp_serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        sys.exit(4)

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"rtsp_serve: rtsp://{args.host}:{args.port}{args.mount} serving {args.file}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
