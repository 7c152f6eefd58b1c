"""Printed documents (PDF): what each says (documents.py), its template (templates/), the routes."""
