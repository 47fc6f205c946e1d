"""The shared wording of errors: one line, cut so the sentence around it stays readable."""

from dlcourse.errors import one_line


def test_one_line_joins_the_lines_and_marks_where_it_cut():
    error = ValueError("Graph execution error:\n\n  " + "x" * 500)
    assert one_line(error) == "Graph execution error: " + "x" * 500
    cut = one_line(error, 60)
    # A cut reason said nothing of being cut: a trial's failure read as the whole story.
    assert len(cut) == 60 and cut.endswith("x...") and cut.startswith("Graph execution error: ")
    assert one_line("short\ttext", 60) == "short text"
