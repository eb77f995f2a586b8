"""The API's OpenAPI 3.1 description, written by hand to match ``bot.web.payloads``."""

from __future__ import annotations

from typing import Any

_NUMBER_OR_NULL = {"type": ["number", "null"]}

_SCORE_FIELDS: dict[str, Any] = {
    "symbol": {"type": "string"},
    "score": {"type": "integer", "minimum": 0, "maximum": 100},
    "band": {"type": "string", "enum": ["neutral", "lean", "stretched", "stressed"]},
    "bias": {"type": "string", "enum": ["LONG", "SHORT", "NEUTRAL"]},
    "regime": {"type": "string", "description": "stable regime code"},
    "label": {"type": "string", "description": "the regime in words"},
    "partial": {"type": "boolean", "description": "some inputs were missing"},
    "oi_1h_pct": _NUMBER_OR_NULL,
    "oi_4h_pct": _NUMBER_OR_NULL,
    "oi_24h_pct": _NUMBER_OR_NULL,
    "funding_pct": {**_NUMBER_OR_NULL, "description": "per the symbol's own interval, in %"},
    "funding_interval_h": _NUMBER_OR_NULL,
    "funding_8h_pct": {**_NUMBER_OR_NULL, "description": "funding on an 8h footing, in %"},
    "basis_pct": _NUMBER_OR_NULL,
}

_TIME = {"type": ["string", "null"], "format": "date-time"}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "suggestions": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "ETag": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
        },
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_COMMON_ERRORS = {
    "304": {"description": "Not modified: the If-None-Match ETag is current"},
    "401": {
        **_error("Missing or wrong bearer token (only when the server sets WEB_API_TOKEN)"),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "503": _error("No scores yet, or the database did not answer"),
}

_SYMBOL = {
    "name": "symbol",
    "in": "path",
    "required": True,
    "description": "A symbol as the bot knows it, or a short form (btc, 1000shib)",
    "schema": {"type": "string", "maxLength": 32},
}
_VENUE_OF_SYMBOL = {
    "name": "venue",
    "in": "query",
    "description": "when several venues are collected: one venue's name, or all (the cross-venue "
    "aggregate, whose card lists each venue); the first venue when absent; 400 otherwise",
    "schema": {"type": "string"},
}


def openapi_schema(version: str) -> dict[str, Any]:
    """The OpenAPI document served at ``/api/v1/openapi.json``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Derivatives Pressure Score API",
            "version": version,
            "description": "Read-only. The same numbers the bot answers /top and /score with.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "Row": {
                    "type": "object",
                    "properties": {"rank": {"type": "integer", "minimum": 1}, **_SCORE_FIELDS},
                },
                "Top": {
                    "type": "object",
                    "properties": {
                        "exchange": {"type": "string"},
                        "source_label": {"type": ["string", "null"]},
                        "as_of": _TIME,
                        "stale": {"type": "boolean"},
                        "title": {"type": "string"},
                        "notes": {"type": "array", "items": {"type": "string"}},
                        "summary": {
                            "type": "object",
                            "properties": {
                                k: {"type": "number"}
                                for k in ("count", "average", "long", "short", "neutral")
                            },
                        },
                        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}},
                    },
                },
                "Score": {
                    "type": "object",
                    "properties": {
                        **_SCORE_FIELDS,
                        "exchange": {"type": "string"},
                        "source_label": {"type": ["string", "null"]},
                        "ts": _TIME,
                        "age_seconds": {"type": "number"},
                        "stale": {"type": "boolean"},
                        "change_1h": {"type": ["integer", "null"]},
                        "change_24h": {"type": ["integer", "null"]},
                        "components": {"type": "object"},
                        "venues": {
                            "type": ["object", "null"],
                            "description": "The aggregate's card (venue=all): the asset on each venue",
                        },
                    },
                },
                "History": {
                    "type": "object",
                    "properties": {
                        "symbol": {"type": "string"},
                        "window": {"type": "string", "enum": ["24h", "7d"]},
                        "points": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Status": {
                    "type": "object",
                    "properties": {
                        "exchange": {"type": "string"},
                        "symbols": {"type": "integer"},
                        "last_collection": _TIME,
                        "age_seconds": {"type": ["number", "null"]},
                        "stale": {"type": "boolean"},
                        "outbox": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "venues": {
                            "type": "array",
                            "description": "Each venue's freshness when several are collected (else empty)",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "exchange": {"type": "string"},
                                    "last_collection": _TIME,
                                    "age_seconds": {"type": ["number", "null"]},
                                    "stale": {"type": "boolean"},
                                    "last_cycle": {"type": ["string", "null"]},
                                },
                            },
                        },
                    },
                },
            },
        },
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/v1/top": {
                "get": {
                    "summary": "The ranked table with its summary line",
                    "parameters": [
                        {
                            "name": "filter",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["long", "short", "squeeze"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "description": "at most this many rows (every symbol when absent)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                        },
                        {
                            "name": "venue",
                            "in": "query",
                            "description": "when several venues are collected: all (the cross-venue "
                            "aggregate, the default) or one venue's name; 400 otherwise",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {"200": _json("Top", "The ranked rows"), "400": _error("Bad query")}
                    | _COMMON_ERRORS,
                }
            },
            "/api/v1/score/{symbol}": {
                "get": {
                    "summary": "One symbol's score card",
                    "parameters": [_SYMBOL, _VENUE_OF_SYMBOL],
                    "responses": {
                        "200": _json("Score", "The score card"),
                        "400": _error("Not a symbol, or an unknown venue"),
                        "404": _error("Unknown symbol (with suggestions)"),
                    }
                    | _COMMON_ERRORS,
                }
            },
            "/api/v1/history/{symbol}": {
                "get": {
                    "summary": "One symbol's scores over a window, oldest first",
                    "parameters": [
                        _SYMBOL,
                        {
                            "name": "window",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["24h", "7d"], "default": "24h"},
                        },
                        _VENUE_OF_SYMBOL,
                    ],
                    "responses": {
                        "200": _json("History", "The scores"),
                        "400": _error("Bad symbol, window or venue"),
                        "404": _error("Unknown symbol"),
                    }
                    | _COMMON_ERRORS,
                }
            },
            "/api/v1/status": {
                "get": {
                    "summary": "Is data flowing, and is delivery keeping up?",
                    "responses": {"200": _json("Status", "The status")} | _COMMON_ERRORS,
                }
            },
        },
    }
