"""HTTP policy server: Flask under gunicorn, answering from verified policy versions."""
