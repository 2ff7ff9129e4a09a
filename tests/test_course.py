"""The course layer graded by the real tool.

Two of the real chapters, `05_modes` and `08_metrics` (their notebooks run in seconds), become an nbgrader course
(`make_course`); then the commands of `nbs/10_course.ipynb` run in it: `nbgrader generate_assignment`, `autograde` on
three students' notebooks (the reference solution, the released blank, a typical wrong answer), `generate_feedback`
and `export`. The points each submission should score are read from the chapters' own marks.
"""
import csv, os, subprocess, sys, time
from pathlib import Path

import nbformat
import pytest

from ganlab.course import Exercise, chapters_dir, find_chapters, list_exercises, make_course

if os.environ.get('CI'): import nbgrader    # noqa: F401  (CI installs the `course` extra: a missing nbgrader is a failure)
else: pytest.importorskip('nbgrader', reason='the nbgrader cycle needs `pip install -e ".[course]"` (Python >= 3.11)')

ASSIGNMENTS = ['05_modes', '08_metrics']
STUDENTS = {   # what each student writes: (edits to the reference solution, or None for the blank; the written answer)
    'reference': ([], "An answer."),
    'blank': (None, None),
    'wrong': ([("p = counts.double()[counts > 0] / n", "p = counts.double() / n"),       # 0 · log 0 = NaN for empty modes
               ("return float(np.sqrt(np.clip(lam, 0, None)).sum())",               # tr of an element-wise √(Σ₁ ∘ Σ₂)
                "return float(np.trace(np.sqrt(np.abs(sigma1 * sigma2))))")],
              "Another answer."),
}
LOSES = {'wrong': {'reverse-kl-hidden', 'trace-sqrt-hidden'}}   # the test cells each wrong answer should fail


def marks(a):
    "The chapter's exercises and questions, as ganlab.course reads them."
    return list_exercises(a, chapters_dir())

def points(a, student):
    "What `student` should score on assignment `a` (auto-graded cells only) and its maximum, from the chapter's marks."
    ms = marks(a)
    total, auto = sum(m.points for m in ms), sum(m.points for m in ms if isinstance(m, Exercise))
    if student == 'blank': return 0, total
    lost = {ex.name: sum(t.points for t in ex.tests if t.grade_id in LOSES.get(student, ())) for ex in ms if isinstance(ex, Exercise)}
    for ex in ms:
        if isinstance(ex, Exercise) and lost[ex.name]: assert 0 < lost[ex.name] < ex.points, (a, ex.name, lost[ex.name])
    return auto - sum(lost.values()), total


def test_a_number_means_each_notebook_with_exercises(tmp_path):
    "`05` is two notebooks with exercises: `make_course(['02', '05'])` makes an assignment of each."
    assert [p.stem for p in find_chapters('05')] == ['05_modes', '05_wgan_gp']
    assert [p.stem for p in find_chapters('05_wgan_gp')] == ['05_wgan_gp']
    course = make_course(['02', '05'], tmp_path / 'course')
    assert sorted(p.name for p in (course / 'source').iterdir()) == ['02_dcgan', '05_modes', '05_wgan_gp']
    with pytest.raises(ValueError, match="Unknown chapter '99'; the chapters are: 00_core"):
        make_course(['99'], tmp_path / 'other')
    assert not (tmp_path / 'other').exists()


def test_expected_points():
    "The wrong answer loses points in both chapters, fewer than its exercises carry."
    for a in ASSIGNMENTS:
        ref, total = points(a, 'reference')
        wrong, _ = points(a, 'wrong')
        assert 0 < wrong < ref < total, (a, wrong, ref, total)
    ids = {t.grade_id for a in ASSIGNMENTS for ex in marks(a) if isinstance(ex, Exercise) for t in ex.tests}
    assert LOSES['wrong'] <= ids


def submission(release, source, edits, answer, applied):
    "A student's notebook: the released copy, each solution written as the reference has it with `edits` applied."
    nb = nbformat.read(release, as_version=4)
    ref = {c.metadata.nbgrader.grade_id: c.source for c in nbformat.read(source, as_version=4).cells if 'nbgrader' in c.metadata}
    for c in nb.cells:
        meta = c.metadata.get('nbgrader', {})
        if not meta.get('solution'): continue
        if c.cell_type == 'markdown': c.source = answer; continue
        c.source = '\n'.join(line for line in ref[meta['grade_id']].splitlines() if 'SOLUTION' not in line)
        for old, new in edits:
            if old in c.source: c.source, _ = c.source.replace(old, new), applied.add(old)
    return nb


def solutions(source):
    "The lines of the reference solutions and model answers in a source notebook, each with the cell it is in."
    out = []
    for c in nbformat.read(source, as_version=4).cells:
        if not c.metadata.get('nbgrader', {}).get('solution'): continue
        lines = c.source.splitlines()
        if c.cell_type == 'code':
            inside = False
            for line in lines:
                if 'SOLUTION' in line: inside = 'BEGIN' in line; continue
                if inside: out.append(line.strip())
        else: out += [line.strip() for line in lines]
    return [line for line in out if len(line) > 25]


def nbgrader(course, *args):
    "Run an nbgrader command in the course folder, as an instructor would, with the environment's bin/ on PATH."
    env = {**os.environ, 'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop('GANLAB_QUICK', None)     # the course's nbgrader_config.py decides
    start = time.time()
    r = subprocess.run(['nbgrader', *args], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    print(f"nbgrader {' '.join(args)}: {time.time() - start:.1f} s")
    return r


def printed(path):
    "The text each code cell of a notebook printed."
    nb = nbformat.read(path, as_version=4)
    return [''.join(o.get('text', '') for o in c.get('outputs', [])) for c in nb.cells if c.cell_type == 'code']


def test_nbgrader_cycle(tmp_path):
    start = time.time()
    course = make_course(ASSIGNMENTS, tmp_path / 'course')
    for a in ASSIGNMENTS: nbgrader(course, 'generate_assignment', a)

    for a in ASSIGNMENTS:   # the students' copies: solutions blanked, hidden tests and model answers gone, no directives
        release, source = course / 'release' / a / f'{a}.ipynb', course / 'source' / a / f'{a}.ipynb'
        text = '\n'.join(c.source for c in nbformat.read(release, as_version=4).cells)
        chapter = '\n'.join(c.source for c in nbformat.read(source, as_version=4).cells
                            if not c.metadata.get('nbgrader', {}).get('solution'))
        gone = [line for line in solutions(source) if line not in chapter]
        assert len(gone) > 10, a
        for line in gone: assert line not in text, (a, line)
        assert 'HIDDEN TESTS' not in text and 'do not import it' not in text, a
        assert not any(line.startswith('#|') for line in text.splitlines())
        assert text.count('raise NotImplementedError()') == sum(len(m.funcs) for m in marks(a) if isinstance(m, Exercise))
        assert 'YOUR ANSWER HERE' in text and 'the autograder runs them' in text

    for student, (edits, answer) in STUDENTS.items():
        applied = set()
        for a in ASSIGNMENTS:
            release, source = course / 'release' / a / f'{a}.ipynb', course / 'source' / a / f'{a}.ipynb'
            nb = nbformat.read(release, as_version=4) if edits is None else submission(release, source, edits, answer, applied)
            (course / 'submitted' / student / a).mkdir(parents=True)
            nbformat.write(nb, course / 'submitted' / student / a / f'{a}.ipynb')
        assert applied == {old for old, _ in edits or []}, student
    for a in ASSIGNMENTS: nbgrader(course, 'autograde', a)

    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            for student in STUDENTS:
                got = {g.name: (g.auto_score, g.max_score) for g in gb.find_submission_notebook(a, a, student).grades}
                if student == 'blank':                                  # nothing written: every cell, the answers too, scores 0
                    assert all(s == 0 for s, _ in got.values()), (a, got)
                    continue
                auto = {k: v for k, v in got.items() if v[0] is not None}
                assert len(got) - len(auto) == sum(1 for m in marks(a) if not isinstance(m, Exercise))  # answers wait for a person
                lost = {k for k, (s, m) in auto.items() if s != m}
                assert lost == LOSES.get(student, set()) & set(auto), (a, student, lost)
                assert all(auto[k][0] == 0 for k in lost)

    tables = {s: [p for p in printed(course / 'autograded' / s / '05_modes' / '05_modes.ipynb') if 'reverse KL' in p]
              for s in ('reference', 'wrong')}
    assert tables['reference'] and not any('nan' in p for p in tables['reference'])
    assert any('reverse KL nan' in p for p in tables['wrong'])         # the student's own function ran in the chapter

    for a in ASSIGNMENTS: nbgrader(course, 'generate_feedback', a)
    for student in STUDENTS:
        for a in ASSIGNMENTS: assert (course / 'feedback' / student / a / f'{a}.html').stat().st_size > 1000
    feedback = (course / 'feedback' / 'wrong' / '08_metrics' / '08_metrics.html').read_text()
    failed = next(t for m in marks('08_metrics') if isinstance(m, Exercise) for t in m.tests if t.grade_id == 'trace-sqrt-hidden')
    assert 'Score: {:.1f} / {:.1f}'.format(*points('08_metrics', 'wrong')) in feedback       # the total
    assert f'Score: 0.0 / {failed.points:.1f}' in feedback                                   # the failed hidden test

    nbgrader(course, 'export')
    rows = list(csv.DictReader(open(course / 'grades.csv')))
    print((course / 'grades.csv').read_text())
    scores = {(r['assignment'], r['student_id']): (float(r['score']), float(r['max_score'])) for r in rows}
    assert scores == {(a, s): points(a, s) for a in ASSIGNMENTS for s in STUDENTS}
    print(f"the whole cycle: {time.time() - start:.0f} s")
