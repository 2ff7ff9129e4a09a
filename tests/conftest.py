import pytest

@pytest.fixture(autouse=True)
def _quick_and_cpu(monkeypatch, tmp_path):
    "Tests train small, on the CPU, and never touch the user's ~/.cache/ganlab."
    monkeypatch.setenv('GANLAB_QUICK', '1')
    monkeypatch.setenv('GANLAB_DEVICE', 'cpu')
    monkeypatch.setenv('GANLAB_HOME', str(tmp_path / 'ganlab-home'))
