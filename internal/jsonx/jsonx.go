// Package jsonx is the module's JSON for packages that need only Marshal
// and Unmarshal: github.com/bytedance/sonic where it builds (64-bit
// amd64 and arm64 on the systems it supports, as package codec decides),
// encoding/json elsewhere. Both decode strings into copies, so a value
// never refers to the input.
package jsonx
