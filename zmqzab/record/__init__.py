"""Recordings: a run's node streams, marks and captions in one bounded file, and their replay.

A recording (``.zrec``: gzip-compressed JSON Lines; ``.jsonl`` plain) is what each node of a
run would have streamed to the page on ``/events?status=1`` (``hello``, ``status`` and ``zab``
frames, the same dicts), merged in time order, plus ``down``/``up`` frames, marks (faults,
leader changes, the checker's verdict) and captions (lessons). Line 1 is the header, the last
line the trailer. The format's names are in ``format.py`` (README: Recordings and replay);
the page (index.html) replays it through the handlers of its live view.

* ``writer.py``: ``RecordingWriter`` (the size bound and key-frame thinning);
* ``reader.py``: ``read_recording`` (validates every line; a truncated file still replays);
* ``sim.py``: the simulator's recorder (``record_run``, ``SimRecorder``);
* ``live.py``: a live cluster's recorder (``zmqzab up --record``);
* ``chaos.py``: a chaos run's ``recording.zrec`` (live.py's streams and the nemesis's faults);
* ``server.py``: the replay server (``zmqzab replay``, ``zmqzab sim --view``).
"""
