package proto_test

import (
	"fmt"

	"github.com/shoalnet/shoal/examples/push/proto"
)

func ExampleDecode() {
	body, _ := proto.AppendBody(nil, &proto.Body{Type: proto.TypePub, Req: 7,
		Topic: []byte("news"), Payload: []byte("hello")})
	fmt.Printf("% x\n", body)
	b, err := proto.Decode(body)
	fmt.Println(b.Type, b.Req, string(b.Topic), string(b.Payload), err)
	// Output:
	// 03 00 00 00 07 04 6e 65 77 73 68 65 6c 6c 6f
	// PUB 7 news hello <nil>
}
