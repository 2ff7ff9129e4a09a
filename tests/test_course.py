"""The course layer graded by the real tool.

Two small chapters, marked as `nbs/10_course.ipynb` describes, become an nbgrader course (`make_course`); then the
commands of that page run in it: `nbgrader generate_assignment`, `autograde` on three students' notebooks (the
reference solution, the released blank, typical wrong answers), `generate_feedback` and `export`.
"""
import csv, os, re, subprocess, sys, textwrap, time
from pathlib import Path

import nbformat
import pytest

from ganlab.course import make_course, course_summary, list_exercises

if os.environ.get('CI'): import nbgrader    # noqa: F401  (CI installs the `course` extra: a missing nbgrader is a failure)
else: pytest.importorskip('nbgrader', reason='the nbgrader cycle needs `pip install -e ".[course]"` (Python >= 3.11)')


def cells(*specs):
    "Cells from (type, source) pairs, sources dedented."
    return [(t, textwrap.dedent(s).strip('\n')) for t, s in specs]

LOSSES = cells(
    ('code', "#| default_exp losses"),
    ('markdown', """
        # The adversarial losses

        > The discriminator's and the generator's losses on logits, written to stay finite however confident D gets."""),
    ('code', """
        #| export
        import math
        import torch
        import torch.nn as nn
        import torch.nn.functional as F"""),
    ('code', "#| hide\nfrom fastcore.test import test_close, test_eq"),
    ('markdown', """
        D outputs a logit $\\ell$ and $D(x) = \\sigma(\\ell)$. Since $-\\log\\sigma(\\ell) = \\operatorname{softplus}(-\\ell)$
        and $-\\log(1 - \\sigma(\\ell)) = \\operatorname{softplus}(\\ell)$, both losses can be written without ever
        computing a probability that rounds to 0 or 1."""),
    ('code', """
        #| export
        #| exercise: d_loss 2
        def d_loss_bce(real_logits: torch.Tensor, # D's logits on real samples
                       fake_logits: torch.Tensor, # D's logits on generated samples
                      ) -> torch.Tensor:
            "The discriminator's loss $-\\\\log D(x) - \\\\log(1 - D(G(z)))$, averaged, on logits."
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()"""),
    ('code', """
        #| exercise_test: d_loss
        test_close(d_loss_bce(torch.zeros(8), torch.zeros(8)), 2 * math.log(2))"""),
    ('code', """
        #| hide
        #| hidden_test: d_loss
        assert d_loss_bce.__module__ == '__main__'
        test_close(d_loss_bce(torch.full((4,), 100.), torch.full((4,), -100.)), 0, eps=1e-6)
        test_close(d_loss_bce(torch.full((4,), -100.), torch.full((4,), 100.)), 200, eps=1e-3)"""),
    ('markdown', """
        The generator's non-saturating loss $-\\log D(G(z))$ (Goodfellow et al., 2014) keeps its gradient where a
        young generator needs it: where D rejects the fakes."""),
    ('code', """
        #| export
        #| exercise: g_loss 3 g_loss_nonsaturating
        def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
            "The minimax loss $\\\\log(1 - D(G(z)))$, which saturates when D wins."
            return -F.softplus(fake_logits).mean()

        def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
            "The non-saturating loss $-\\\\log D(G(z))$, finite at any logit."
            return F.softplus(-fake_logits).mean()"""),
    ('code', """
        #| exercise_test: g_loss
        test_close(g_loss_nonsaturating(torch.zeros(5)), math.log(2))
        test_close(g_loss_nonsaturating(torch.tensor([3.])), math.log1p(math.exp(-3)))"""),
    ('code', """
        #| hide
        #| hidden_test: g_loss 2
        loss = g_loss_nonsaturating(torch.tensor([-200., 0., 30.]))
        assert torch.isfinite(loss), "the loss overflows when D rejects a fake with confidence"
        test_close(loss, (200 + math.log(2) + math.log1p(math.exp(-30))) / 3, eps=1e-4)
        assert g_loss_nonsaturating.__module__ == '__main__'"""),
    ('markdown', "## A game on the line\n\nG shifts and scales noise; the data are $\\mathcal N(3, 0.5^2)$."),
    ('code', """
        #| export
        def train_1d(steps: int, seed: int = 0) -> torch.Tensor:
            "Train a one-dimensional GAN with the losses above; 1000 of G's samples."
            torch.manual_seed(seed)
            G, D = nn.Linear(1, 1), nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
            opt_g = torch.optim.Adam(G.parameters(), 2e-2, betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(D.parameters(), 2e-2, betas=(0.5, 0.999))
            for _ in range(steps):
                real, fake = 3 + 0.5 * torch.randn(64, 1), G(torch.randn(64, 1))
                d = d_loss_bce(D(real).squeeze(1), D(fake.detach()).squeeze(1))
                opt_d.zero_grad(); d.backward(); opt_d.step()
                g = g_loss_nonsaturating(D(fake).squeeze(1))
                opt_g.zero_grad(); g.backward(); opt_g.step()
            return G(torch.randn(1000, 1)).detach().squeeze(1)"""),
    ('code', """
        x = train_1d(500)
        print(f"G's samples: mean {x.mean():.2f} (data 3), spread {x.std():.2f} (data 0.5)")
        assert 2.7 < x.mean() < 3.3"""),
    ('code', """
        #| slow
        x = train_1d(20_000)
        print(f"full-size run: mean {x.mean():.2f}, spread {x.std():.2f}")
        x.mean()"""),
    ('markdown', "<!-- question: saturation 2 -->\nWhy does the generator not simply minimise $\\log(1 - D(G(z)))$?"),
    ('markdown', "<!-- answer: saturation -->\nIts gradient $-\\sigma(\\ell)$ vanishes where D rejects the fakes, "
                 "which is where a young generator lives; $-\\log D(G(z))$ has the same fixed point and a gradient "
                 "near 1 there."),
)

PENALTY = cells(
    ('code', "#| default_exp penalty"),
    ('markdown', """
        # Keeping the critic 1-Lipschitz

        > Weight clipping (Arjovsky et al., 2017) and the gradient penalty (Gulrajani et al., 2017)."""),
    ('code', "#| export\nimport torch\nimport torch.nn as nn"),
    ('code', "#| hide\nfrom fastcore.test import test_close, test_eq"),
    ('markdown', """
        WGAN-GP penalises $\\lambda\\,\\mathbb E\\big[(\\lVert\\nabla_{\\hat x} f(\\hat x)\\rVert_2 - 1)^2\\big]$ at
        $\\hat x = \\epsilon x + (1 - \\epsilon)\\tilde x$, $\\epsilon \\sim U[0, 1]$: on the lines between real and
        generated samples, where the optimal critic has gradients of norm 1."""),
    ('code', """
        #| export
        #| exercise: gp 4
        def gradient_penalty(critic, # a function of a batch, one score per sample
                             real: torch.Tensor, # a batch of real samples (B, ...)
                             fake: torch.Tensor, # a batch of generated samples, the same shape
                             eps: torch.Tensor | None = None, # the mixing weights (B, 1, ...); default: uniform
                            ) -> torch.Tensor:
            "WGAN-GP's penalty $\\\\mathbb E[(\\\\lVert\\\\nabla f(\\\\hat x)\\\\rVert_2 - 1)^2]$ on interpolates of real and fake."
            if eps is None: eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
            return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()"""),
    ('code', """
        #| exercise_test: gp
        w = torch.tensor([0.6, 0.8], requires_grad=True)         # a linear critic whose gradient has norm 1
        p = gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
        test_close(p, 0, eps=1e-6)
        assert p.requires_grad                                   # the penalty is trained through"""),
    ('code', """
        #| hide
        #| hidden_test: gp 3
        quadratic = lambda x: 0.5 * (x ** 2).flatten(1).sum(1)   # gradient x, so the norm at x is |x|
        real, fake = torch.full((3, 4), 2.), torch.zeros(3, 4)      # |real| = 4, |fake| = 0
        test_close(gradient_penalty(quadratic, real, fake, eps=torch.full((3, 1), .25)), 0, eps=1e-6)   # |x_hat| = 1
        test_close(gradient_penalty(quadratic, real, fake, eps=torch.full((3, 1), .75)), 4, eps=1e-5)   # |x_hat| = 3
        test_eq(gradient_penalty(quadratic, torch.ones(2, 1, 2, 2), torch.ones(2, 1, 2, 2)).shape, ())
        assert gradient_penalty.__module__ == '__main__'"""),
    ('code', """
        #| export
        #| exercise: clip 2 WeightClipper.__call__
        class WeightClipper:
            "WGAN's constraint: clamp every parameter of the critic to [-c, c] after each of its steps."
            def __init__(self, c: float = 0.01): self.c = c
            def __call__(self, critic: nn.Module) -> None:
                "Clamp the critic's parameters in place."
                with torch.no_grad():
                    for p in critic.parameters(): p.clamp_(-self.c, self.c)"""),
    ('code', """
        #| exercise_test: clip
        net = nn.Linear(3, 2); w = net.weight.detach().clone()
        WeightClipper(0.05)(net)
        test_eq(net.weight.detach(), w.clamp(-0.05, 0.05))"""),
    ('code', """
        #| hidden_test: clip
        net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)); before = list(net.parameters())
        with torch.no_grad(): [p.fill_(1.) for p in net.parameters()]
        WeightClipper(0.01)(net)
        test_eq([p.detach() for p in net.parameters()], [torch.full_like(p, .01) for p in before])
        assert all(a is b for a, b in zip(net.parameters(), before))   # the same parameters, clamped in place"""),
    ('markdown', "## The penalty on points"),
    ('code', """
        torch.manual_seed(0)
        critic = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
        opt = torch.optim.Adam(critic.parameters(), 1e-3)
        for _ in range(100):
            real, fake = torch.randn(64, 2) + 2, torch.randn(64, 2)
            loss = critic(fake).mean() - critic(real).mean() + 10 * gradient_penalty(lambda x: critic(x).squeeze(1), real, fake)
            opt.zero_grad(); loss.backward(); opt.step()
        print(f"critic's estimate of W1: {(critic(real).mean() - critic(fake).mean()).item():.2f}")"""),
    ('markdown', "<!-- question: clip_vs_gp 1 -->\nWhy did Gulrajani et al. replace weight clipping by a penalty?"),
    ('markdown', "<!-- answer: clip_vs_gp -->\nClipping pushes the weights to ±c, which caps the critic's capacity and "
                 "makes gradients vanish or explode unless c is tuned; the penalty constrains the gradient itself."),
)

STUDENTS = {   # what each student writes: (edits to the reference solution, or None for the blank; the written answer)
    'reference': ([], "An answer."),
    'blank': (None, None),
    'wrong': ([("F.softplus(-fake_logits).mean()", "-torch.log(torch.sigmoid(fake_logits)).mean()"),
               ("x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)", "x_hat = real.clone().requires_grad_(True)")],
              "Another answer."),
}
LOSES = {'wrong': {'g_loss-hidden', 'gp-hidden'}}   # the test cells each wrong answer should fail


def write_chapter(path, specs):
    nb = nbformat.v4.new_notebook(metadata=dict(kernelspec=dict(name='python3', display_name='python3', language='python')))
    nb.cells = [nbformat.v4.new_code_cell(s) if t == 'code' else nbformat.v4.new_markdown_cell(s) for t, s in specs]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


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


def nbgrader(course, *args):
    "Run an nbgrader command in the course folder, as an instructor would, with the environment's bin/ on PATH."
    env = {**os.environ, 'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop('GANLAB_QUICK', None)     # the course's nbgrader_config.py decides
    start = time.time()
    r = subprocess.run(['nbgrader', *args], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    print(f"nbgrader {' '.join(args)}: {time.time() - start:.1f} s")
    return r


@pytest.fixture(scope='module')
def nbs(tmp_path_factory):
    d = tmp_path_factory.mktemp('nbs')
    write_chapter(d / '02_losses.ipynb', LOSSES)
    write_chapter(d / '05_penalty.ipynb', PENALTY)
    write_chapter(d / '05_other.ipynb', LOSSES[:4])
    return d


def test_marks_of_the_fixture(nbs):
    ex = list_exercises('02', nbs)
    assert [(m.name, m.points) for m in ex] == [('d_loss', 2), ('g_loss', 3), ('saturation', 2)]
    assert [(t.grade_id, t.points) for t in ex[1].tests] == [('g_loss-test', 1), ('g_loss-hidden', 2)]
    assert [t.points for t in list_exercises('05', nbs)[0].tests] == [1, 3]        # `05` is the chapter with exercises
    assert course_summary(nbs).splitlines()[-2:] == [
        '4 auto-graded exercises (11 points) and 2 written questions (3 points) in 2 chapters', 'no exercises yet: 05_other']


def test_nbgrader_cycle(nbs, tmp_path):
    start = time.time()
    course = make_course(['02', '05_penalty'], tmp_path / 'course', nbs=nbs)
    assignments = ['02_losses', '05_penalty']
    for a in assignments: nbgrader(course, 'generate_assignment', a)

    for a in assignments:   # the students' copies: solutions blanked, hidden tests and model answers gone, no directives
        text = (course / 'release' / a / f'{a}.ipynb').read_text()
        for gone in ('F.softplus(-fake_logits).mean()', 'eps * real', 'p.clamp_', 'HIDDEN TESTS', '__module__',
                     'vanishes where D rejects', 'caps the critic'):
            assert gone not in text, (a, gone)
        sources = [c.source for c in nbformat.read(course / 'release' / a / f'{a}.ipynb', as_version=4).cells]
        assert not any(line.startswith('#|') for s in sources for line in s.splitlines())
        assert text.count('raise NotImplementedError()') == {'02_losses': 2, '05_penalty': 2}[a]
        assert 'YOUR ANSWER HERE' in text and 'the autograder runs them' in text

    for student, (edits, answer) in STUDENTS.items():
        applied = set()
        for a in assignments:
            release, source = course / 'release' / a / f'{a}.ipynb', course / 'source' / a / f'{a}.ipynb'
            nb = nbformat.read(release, as_version=4) if edits is None else submission(release, source, edits, answer, applied)
            (course / 'submitted' / student / a).mkdir(parents=True)
            nbformat.write(nb, course / 'submitted' / student / a / f'{a}.ipynb')
        assert applied == {old for old, _ in edits or []}, student
    for a in assignments: nbgrader(course, 'autograde', a)

    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for a in assignments:
            for student in STUDENTS:
                got = {g.name: (g.auto_score, g.max_score) for g in gb.find_submission_notebook(a, a, student).grades}
                if student == 'blank':                                  # nothing written: every cell, the answer too, scores 0
                    assert all(s == 0 for s, _ in got.values()), (a, got)
                    continue
                auto = {k: v for k, v in got.items() if v[0] is not None}
                assert len(got) - len(auto) == 1                        # the written answer waits for a person
                lost = {k for k, (s, m) in auto.items() if s != m}
                assert lost == LOSES.get(student, set()) & set(auto), (a, student, lost)
                assert all(auto[k][0] == 0 for k in lost)

    graded = nbformat.read(course / 'autograded' / 'reference' / '02_losses' / '02_losses.ipynb', as_version=4)
    printed = [''.join(o.get('text', '') for o in c.get('outputs', [])) for c in graded.cells]
    means = [float(m[1]) for p in printed if (m := re.match(r"G's samples: mean (\S+)", p))]
    assert len(means) == 1 and 2.7 < means[0] < 3.3                        # the student's losses trained G
    assert not any('full-size run' in p for p in printed)                   # the slow cell did not run

    for a in assignments: nbgrader(course, 'generate_feedback', a)
    for student in STUDENTS:
        for a in assignments: assert (course / 'feedback' / student / a / f'{a}.html').stat().st_size > 1000
    feedback = (course / 'feedback' / 'wrong' / '02_losses' / '02_losses.html').read_text()
    assert 'Score: 3.0 / 7.0' in feedback and 'Score: 0.0 / 2.0' in feedback   # the total, and the failed hidden test

    nbgrader(course, 'export')
    rows = list(csv.DictReader(open(course / 'grades.csv')))
    print((course / 'grades.csv').read_text())
    scores = {(r['assignment'], r['student_id']): (float(r['score']), float(r['max_score'])) for r in rows}
    assert scores == {('02_losses', 'reference'): (5, 7), ('02_losses', 'blank'): (0, 7), ('02_losses', 'wrong'): (3, 7),
                      ('05_penalty', 'reference'): (6, 7), ('05_penalty', 'blank'): (0, 7), ('05_penalty', 'wrong'): (3, 7)}
    print(f"the whole cycle: {time.time() - start:.0f} s")
