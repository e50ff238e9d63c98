"""A faithful fake of the Notion public API (OAuth + the read endpoints the
notion_rbac background worker uses), for tests and the demo.

Run it as ``python3 fake_notion --fixture fake_notion/fixtures/test.json``;
see README.md. Standard library only, on purpose: the fake must start on any
machine that has Python 3.11, with nothing to install.
"""
