"""The ceiling of this stack: a Flask route that parses JSON and returns a constant."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/act")
def act():
    request.get_json()
    return jsonify({"action": 0})
