"""The read-only web side: the seed's dashboard and a JSON API (Starlette, uvicorn, Jinja2).

An adapter like the chats: it reads through the command layer's read side
(``bot.app.queries.Queries``), so the page and the API show the same numbers as ``/top``
and ``/score``; it writes nothing. Imported only by the processes that serve it (``dps
web``, or ``dps run`` with ``WEB_PORT`` set): the web stack costs memory the bot need not carry.
"""
