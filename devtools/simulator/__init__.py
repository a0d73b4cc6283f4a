"""Loopback Binance simulator (spot, and USDⓈ-M perpetuals in futures.py): ccxt's real
`binance` class trades against it.

Start it with `python manage.py exchange_simulator --port 8765` (a process) or
`start_simulator_thread(port=0)` (a thread, for tests), point ccxt at it with
`EXCHANGE_URL_OVERRIDES={"binance": "http://127.0.0.1:8765"}`, and drive it through
`SimulatorClient` (accounts, prices, faults, the order log).
"""
