"""The search benchmark's labelled queries over the library ``bench/search_library.py`` builds.

A query's right answers are moments: a video (by file name) and a time window taken from
the ground truth beside the source media (jfk.flac's transcript, the call's ``sample.stm``,
``phototest.txt``, Popeye's ``popeye_p1.eng.srt``, the synthetic clips' own scripts), not
from what the models made of them. A hit is right when it is in that video and its time
range overlaps a window. A query with no windows must find nothing: none of its words is
in the library and nothing there means what it asks.
"""

from __future__ import annotations

from dataclasses import dataclass

JFK, CALL, PAGE, POPEYE = (
    "jfk speech.mp4",
    "phone call.mp4",
    "phototest page.mp4",
    "popeye sinbad.mp4",
)
HARBOUR, GERMAN = "harbour talk.mp4", "marktplatz rundgang.mp4"


@dataclass(frozen=True)
class LabelledQuery:
    text: str
    category: str  # exact | paraphrase | on-screen | german | compound | nothing
    # (file name, start_s, end_s): where a right hit is
    answers: tuple[tuple[str, float, float], ...] = ()


def q(text: str, category: str, *answers: tuple[str, float, float]) -> LabelledQuery:
    return LabelledQuery(text, category, answers)


QUERIES = (
    # exact phrases, as the speaker said or the screen showed them
    q("ask not what your country can do for you", "exact", (JFK, 0.0, 11.0)),
    q("my fellow Americans", "exact", (JFK, 0.5, 3.0)),
    q("This is Diane in New Jersey", "exact", (CALL, 12.5, 14.2)),
    q("originally from Chicago", "exact", (CALL, 14.4, 20.1)),
    q("they all call me a Yankee down here", "exact", (CALL, 24.0, 28.5)),
    q("I didn't know you were there", "exact", (CALL, 8.9, 9.8)),
    q("the quick brown dog jumped over the lazy fox", "exact", (PAGE, 0.0, 6.0)),
    q("12 point text to test the ocr code", "exact", (PAGE, 0.0, 6.0)),
    q("I live on an island on the back of a whale", "exact", (POPEYE, 16.6, 20.0)),
    q("The ocean tides are pulled by the moon", "exact", (HARBOUR, 3.7, 8.0)),
    q("Revenue grew by twelve percent this quarter", "exact", (HARBOUR, 7.0, 10.5)),
    # paraphrases: the meaning, not the words
    q("what citizens should do for their nation", "paraphrase", (JFK, 0.0, 11.0)),
    q("two women introduce themselves on a telephone", "paraphrase", (CALL, 6.5, 18.3)),
    q("where did the callers grow up", "paraphrase", (CALL, 14.4, 20.1)),
    q("sea level changes caused by lunar gravity", "paraphrase", (HARBOUR, 3.7, 8.0)),
    q("sales went up in the last three months", "paraphrase", (HARBOUR, 7.0, 10.5)),
    q("someone who looks after a beacon tower counts boats", "paraphrase", (HARBOUR, 0.0, 3.0)),
    q("sample page for testing character recognition", "paraphrase", (PAGE, 0.0, 6.0)),
    # words on screen
    q("HARBOUR MAP", "on-screen", (HARBOUR, 0.0, 4.0)),
    q("quarterly results", "on-screen", (HARBOUR, 7.0, 10.5)),
    q("Brandon Castellano", "on-screen", (JFK, 6.0, 8.0)),
    q("Sinbad the sailor", "on-screen", (POPEYE, 13.0, 16.4), (POPEYE, 34.2, 36.5)),
    q("so hearty and hale", "on-screen", (POPEYE, 13.0, 16.4)),
    q("lord and master", "on-screen", (POPEYE, 23.6, 27.1)),
    # German speech, asked in German
    q("Marktplatz vor dem Rathaus", "german", (GERMAN, 1.0, 6.0)),
    q("wir treffen uns um zehn Uhr", "german", (GERMAN, 1.0, 6.0)),
    q("Mittagessen im Gasthaus am Fluss", "german", (GERMAN, 6.0, 12.0)),
    q("Guten Morgen", "german", (GERMAN, 0.0, 1.0)),
    # compounds split or joined differently by the query and by Whisper
    q("lighthouse keeper", "compound", (HARBOUR, 0.0, 3.0)),
    q("Markt Platz", "compound", (GERMAN, 1.0, 6.0)),
    q("Stadtbibliothek", "compound", (GERMAN, 6.0, 12.0)),
    # must find nothing
    q("xylophone", "nothing"),
    q("zzzqqq", "nothing"),
    q("quantum chromodynamics lecture", "nothing"),
    q("chocolate cake recipe", "nothing"),
    q("how to replace a bicycle tyre", "nothing"),
    q("volcano eruption", "nothing"),
    q("penguins huddle on the ice", "nothing"),
    q("kubernetes deployment rollback", "nothing"),
    q("Schneesturm in den Alpen", "nothing"),
    q("Fußballweltmeisterschaft", "nothing"),
    q("asdfgh jkl", "nothing"),
)
